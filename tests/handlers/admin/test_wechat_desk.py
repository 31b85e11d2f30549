"""The official account from the console (through the WeChat simulator): the menu pushed and
read back, a unit's poster downloaded, a round of deadline reminders sent once a day, the
template messages that failed or wait to be sent again."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.accounts import WechatBinding
from models.base import utcnow
from models.staff import AuditLog, StaffRole
from models.wechat import TemplateMessage
from services.wechat import desk, notify
from services.wechat.menu import build_menu
from tests import factories
from tests.cli.test_send_queued import bound_learner, queue_payments
from tests.conftest import submit_form


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_staff_push_the_menu_and_see_what_wechat_has(client, login_staff, wechat_sim):
    login_staff(StaffRole.STAFF)
    page = client.get("/admin/wechat").get_data(as_text=True)
    assert "公众号尚未创建菜单" in page and "默认菜单（menu.toml）" in page
    assert "<strong>继续教育</strong>" in page and "我的证书 <span" in page
    assert "公众号尚未创建菜单：推送后，关注者才会看到平台的菜单。" in page
    response = submit_form(client, "/admin/wechat/menu", {}, page="/admin/wechat")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "菜单已推送到公众号" in page and "公众号尚未创建菜单" not in page
    assert "公众号现在的菜单与平台的菜单一致" in page
    assert wechat_sim.state.menu == build_menu("http://localhost")
    assert actions() == ["wechat.menu_push"]


def test_a_units_poster_is_made_from_the_console(client, login_staff, wechat_sim):
    unit = factories.unit("重庆市渝中区人民医院")
    login_staff(StaffRole.STAFF)
    units = client.get("/admin/units").get_data(as_text=True)
    link = f"/admin/wechat?scene=unit:{unit.code}#poster"
    assert link in units
    assert f'value="unit:{unit.code}"' in client.get(link).get_data(as_text=True)
    response = submit_form(
        client, "/admin/wechat/poster", {"scene": f"unit:{unit.code}", "days": ""},
        page="/admin/wechat",
    )  # fmt: skip
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert "attachment" in response.headers["Content-Disposition"]
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.size == (1748, 2480)
    [code] = wechat_sim.state.qrcodes.values()
    assert code["scene"] == f"unit:{unit.code}" and code["temporary"] is False
    assert actions() == ["wechat.poster"]


def test_a_poster_for_nowhere_is_refused_on_the_page_and_no_code_is_spent(
    client, login_staff, wechat_sim
):
    login_staff(StaffRole.STAFF)
    for data, message in [
        ({"scene": "unit:NOSUCH"}, "没有单位代码为 NOSUCH 的单位"),
        ({"scene": "hello"}, "请选择单位或培训项目"),
        ({"scene": f"unit:{factories.unit().code}", "days": "31"}, "1 到 30 天"),
    ]:
        response = submit_form(client, "/admin/wechat/poster", data, page="/admin/wechat")
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)
    assert wechat_sim.state.qrcodes == {} and actions() == []


def test_deadline_reminders_go_once_a_day_from_the_console(client, login_staff, wechat_sim):
    plan = factories.plan(year=2022)
    studying, not_bought = factories.learner(), factories.learner()
    for learner, openid in ((studying, "oDEMO_zhangwei"), (not_bought, "oDEMO_lina")):
        db.session.add(WechatBinding(openid=openid, learner_id=learner.id))
    factories.paid_order(studying, plan)
    db.session.flush()
    login_staff(StaffRole.STAFF)
    response = submit_form(
        client, "/admin/wechat/reminders", {"year": "2022"}, page="/admin/wechat"
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    # Reminders go only to learners who bought the plan (to others WeChat counts them as
    # marketing); the one who has not bought and has not asked for a notice gets nothing.
    assert "未完成的 1 人中，已向 1 人发送截止提醒" in page
    sent = {message["touser"] for message in wechat_sim.state.template_messages}
    assert sent == {"oDEMO_zhangwei"}
    again = submit_form(client, "/admin/wechat/reminders", {"year": "2022"}, page="/admin/wechat")
    assert "今天已发送过提醒" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(wechat_sim.state.template_messages) == 1
    assert len(db.session.scalars(select(TemplateMessage)).all()) == 1
    assert actions() == ["reminders.send", "reminders.send"]
    log = client.application.test_client()
    admin = factories.staff(StaffRole.ADMIN)
    submit_form(log, "/admin/login", {"username": admin.username, "password": factories.PASSWORD})
    assert "发送截止提醒" in log.get("/admin/audit").get_data(as_text=True).split("<tbody>")[1]


def test_a_year_without_a_plan_is_refused_with_a_message(client, login_staff, wechat_sim):
    login_staff(StaffRole.STAFF)
    response = submit_form(
        client, "/admin/wechat/reminders", {"year": "2019"}, page="/admin/wechat"
    )
    assert "2019年度没有公需科目学习计划" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert wechat_sim.state.template_messages == [] and actions() == []


def test_finance_staff_do_not_manage_the_account(client, login_staff):
    login_staff(StaffRole.FINANCE)
    assert client.get("/admin/wechat").status_code == 403


def test_the_console_lists_failed_and_waiting_messages_with_their_reasons(
    client, login_staff, wechat_sim, short_wechat_timeout
):
    wechat_sim.state.fail_next_templates("late")
    [waiting_id] = queue_payments(wechat_sim, 1)
    learner = bound_learner(wechat_sim, "oGONE_0002")
    wechat_sim.state.subscribed.discard("oGONE_0002")
    notify.payment_received(
        learner_id=learner.id,
        order_id=78,
        plan_title="重庆市2022年专技人员继续教育公需科目培训",
        amount_fen=3000,
        paid_at=utcnow(),
        path="/h5/orders",
    )
    commit()
    rows = desk.troubled_messages()
    assert [(row.status_label, row.attempts) for row in rows] == [
        ("发送失败", 1),
        ("等待重发", 1),
    ]
    login_staff(StaffRole.STAFF)
    page = client.get("/admin/wechat").get_data(as_text=True)
    assert "模板消息：发送失败与等待重发" in page
    assert "43004：学员未关注公众号或已取消关注（不重试）" in page
    assert "请求微信接口超时，第1次发送未成功" in page
    assert "等待重发" in page and "发送失败" in page and str(waiting_id) in page
