"""The help desk on a learner's console page: reset the password, change the phone, unbind
WeChat, the chapter study records; and 最近登录 after every way of logging in."""

from __future__ import annotations

import re

from sqlalchemy import select

from infra.extensions import db
from models.accounts import WechatBinding
from models.base import utcnow
from models.staff import AuditLog, StaffRole
from models.study import ChapterProgress
from services.accounts.sms import MemorySmsSender
from tests import factories
from tests.conftest import csrf_from, submit_form
from tests.handlers.test_oauth_entry import through_wechat
from tests.handlers.test_qr_login import PC, scan, start_code


def desk_post(client, learner, action: str, data: dict | None = None):
    page = f"/admin/learners/{learner.id}"
    return submit_form(client, f"{page}/{action}", data or {}, page=page)


def actions_of(learner) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditLog.action)
            .where(AuditLog.target_type == "learner", AuditLog.target_id == str(learner.id))
            .order_by(AuditLog.id)
        )
    )


def test_staff_reset_a_password_to_the_initial_one_and_open_logins_end(app, client, login_staff):
    learner = factories.learner(name="刘洋")
    phone = app.test_client()
    assert (
        submit_form(phone, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD})
    ).status_code == 302
    assert phone.get("/h5/home").status_code == 200
    login_staff(StaffRole.STAFF)
    page = client.get(f"/admin/learners/{learner.id}").get_data(as_text=True)
    assert "重置密码" in page and "修改手机号码" in page
    response = desk_post(client, learner, "password")
    assert response.status_code == 302
    assert "已将密码重置为初始密码" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert phone.get("/h5/home").status_code == 302  # the learner's open login has ended
    assert (
        submit_form(phone, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD})
    ).status_code == 401
    response = submit_form(
        phone, "/h5/login", {"account": learner.phone, "password": learner.id_number[-6:]}
    )
    assert response.headers["Location"].endswith("/h5/password")  # must choose a new one
    assert actions_of(learner) == ["learner.reset_password"]


def test_staff_change_a_phone_and_bad_or_taken_numbers_are_refused(client, login_staff):
    learner = factories.learner(phone="13912345678")
    other = factories.learner(phone="13887654321")
    login_staff(StaffRole.STAFF)
    refused = desk_post(client, learner, "phone", {"phone": other.phone})
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "该手机号码已被其他账号使用" in page
    refused = desk_post(client, learner, "phone", {"phone": "2391234"})
    assert "手机号码应为以1开头的11位数字" in client.get(refused.headers["Location"]).get_data(
        as_text=True
    )
    db.session.refresh(learner)
    assert learner.phone == "13912345678" and actions_of(learner) == []

    done = desk_post(client, learner, "phone", {"phone": " 139-0000-1111 "})
    assert "手机号码已修改" in client.get(done.headers["Location"]).get_data(as_text=True)
    db.session.refresh(learner)
    assert learner.phone == "13900001111"
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "learner.change_phone"))
    assert entry.before == {"phone": "139****5678"} and entry.after == {"phone": "139****1111"}


def test_staff_unbind_wechat(client, login_staff):
    learner = factories.learner()
    factories.bind_wechat(learner, "oDESK_unbind")
    login_staff(StaffRole.STAFF)
    page = client.get(f"/admin/learners/{learner.id}").get_data(as_text=True)
    assert "解除微信绑定" in page
    response = desk_post(client, learner, "wechat/unbind")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已解除微信绑定" in page and "未绑定" in page and "解除微信绑定</button>" not in page
    assert (
        db.session.scalar(select(WechatBinding).where(WechatBinding.openid == "oDESK_unbind"))
        is None
    )
    again = desk_post(client, learner, "wechat/unbind")
    assert "该学员未绑定微信" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_only_desk_staff_act_and_a_unit_admin_only_reads(client, login_staff):
    unit = factories.unit("重庆市渝中区测试医院")
    learner = factories.learner(unit_obj=unit)
    login_staff(StaffRole.UNIT_ADMIN, unit_obj=unit)
    page = client.get(f"/admin/learners/{learner.id}").get_data(as_text=True)
    assert "章节学习记录" in page and "重置密码" not in page
    token = csrf_from(page)
    for action in ("password", "phone", "wechat/unbind"):
        response = client.post(
            f"/admin/learners/{learner.id}/{action}",
            data={"csrf_token": token, "phone": "13900002222"},
        )
        assert response.status_code == 403
    db.session.refresh(learner)
    assert learner.password_hash is not None and learner.phone != "13900002222"


def test_the_chapter_study_records_are_on_the_learners_page(client, login_staff):
    learner = factories.learner()
    plan = factories.plan(courses=1, chapters_per_course=2, chapter_seconds=600)
    first, second = plan.courses[0].chapters
    db.session.add_all(
        [
            ChapterProgress(
                learner_id=learner.id,
                chapter_id=first.id,
                intervals=[[0, 600]],
                covered_seconds=600,
                credited_seconds=590,
                last_position=600,
                finished_at=utcnow(),
            ),
            ChapterProgress(
                learner_id=learner.id,
                chapter_id=second.id,
                intervals=[[0, 150]],
                covered_seconds=150,
                credited_seconds=150,
                last_position=150,
            ),
        ]
    )
    db.session.flush()
    login_staff(StaffRole.FINANCE)
    page = client.get(f"/admin/learners/{learner.id}").get_data(as_text=True)
    table = page.split('id="chapter-records"')[1].split("</table>")[0].split("<tbody>")[1]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 2
    assert first.title in rows[0] and "10:00（100%）" in rows[0] and "09:50" in rows[0]
    assert second.title in rows[1] and "02:30（25%）" in rows[1] and "未完成" in rows[1]


def latest_login_shown(client, learner) -> str:
    page = client.get(f"/admin/learners/{learner.id}").get_data(as_text=True)
    return re.search(r"<dt>最近登录</dt><dd>(.*?)</dd>", page).group(1)


def test_every_way_of_logging_in_is_the_latest_login(app, client, wechat_sim, login_staff):
    by_password = factories.learner()
    by_wechat = factories.learner()
    factories.bind_wechat(by_wechat, "oDEMO_zhangwei")
    by_qr = factories.learner()
    factories.bind_wechat(by_qr, "oDESK_qr")
    by_code = factories.learner(name="王芳")
    login_staff(StaffRole.STAFF)
    for learner in (by_password, by_wechat, by_qr, by_code):
        assert latest_login_shown(client, learner) == "—"

    browser = app.test_client()
    submit_form(
        browser, "/h5/login", {"account": by_password.phone, "password": factories.PASSWORD}
    )
    through_wechat(app.test_client(), wechat_sim, "oDEMO_zhangwei")

    pc = app.test_client()
    login_id = start_code(pc, wechat_sim)
    scan(app.test_client(), app, "oDESK_qr", login_id)
    token = csrf_from(pc.get("/h5/login", headers=PC).get_data(as_text=True))
    assert pc.post("/h5/login/qr/finish", data={"csrf_token": token}).status_code == 302

    MemorySmsSender.outbox.clear()
    coded = app.test_client()
    submit_form(
        coded,
        "/h5/first-login",
        {"name": "王芳", "id_number": by_code.id_number, "phone": by_code.phone},
    )
    code = re.search(r"\d{6}", MemorySmsSender.outbox[-1][1]).group(0)
    response = submit_form(
        coded,
        "/h5/first-login/password",
        {"code": code, "new_password": "Fresh2022x", "confirm_password": "Fresh2022x"},
    )
    assert response.status_code == 302

    for learner in (by_password, by_wechat, by_qr, by_code):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", latest_login_shown(client, learner))
