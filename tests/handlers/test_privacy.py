"""The learner's rights under PIPL: the privacy notice and its separate consent (registration,
a roster account's first login with a code to the roster phone), 我的数据 and its download,
the deletion request that staff act on, and staff seeing a whole ID number recorded."""

from __future__ import annotations

import json
import re

from flask import g
from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import AccountSource, Learner, WechatBinding
from models.certificates import Certificate
from models.orders import Order
from models.privacy import DeletionRequest, DeletionStatus, PrivacyConsent
from models.staff import AuditLog, StaffRole
from services.accounts import privacy
from services.accounts.sms import MemorySmsSender
from services.display import mask_id_number, mask_phone
from services.paperwork import certificates
from tests import factories
from tests.conftest import csrf_from, submit_form
from tests.handlers.paperwork_helpers import log_in_staff


def log_in(client, learner, password: str = factories.PASSWORD):
    g.pop("csrf_token", None)
    return submit_form(client, "/h5/login", {"account": learner.id_number, "password": password})


def consents(learner_id: int) -> list[PrivacyConsent]:
    return list(
        db.session.scalars(select(PrivacyConsent).where(PrivacyConsent.learner_id == learner_id))
    )


# --- the notice and consent -------------------------------------------------------------------


def test_the_privacy_notice_says_what_why_how_long_and_who(app, client):
    page = client.get("/h5/privacy").get_data(as_text=True)
    for heading in ("收集哪些信息", "为什么收集", "保存多久", "谁能看到", "您的权利"):
        assert heading in page
    assert privacy.NOTICE_VERSION in page
    assert f"未确认导入的，{app.config['RETENTION_ROSTER_PREVIEW_DAYS']} 天后删除" in page
    assert f"审核完成 {app.config['RETENTION_VOUCHER_SCREENSHOT_DAYS']} 天后删除" in page


def registration(**overrides):
    unit = factories.unit()
    return {
        "name": "李娜",
        "id_number": factories.valid_id_number(male=False),
        "phone": factories.unique_phone(),
        "unit_id": str(unit.id),
        "password": "Secret2022",
        "confirm_password": "Secret2022",
        **overrides,
    }


def test_registration_asks_for_separate_consent_and_records_it(client):
    form = client.get("/h5/register").get_data(as_text=True)
    box = re.search(r'<input type="checkbox"[^>]*name="privacy_consent"[^>]*>', form).group(0)
    assert "checked" not in box  # never ticked in advance
    assert "/h5/privacy" in form and "敏感个人信息" in form

    data = registration()
    refused = submit_form(client, "/h5/register", data)
    assert refused.status_code == 400
    assert "请阅读《个人信息保护说明》，勾选同意后再继续" in refused.get_data(as_text=True)
    assert db.session.scalar(select(Learner).where(Learner.phone == data["phone"])) is None

    response = submit_form(client, "/h5/register", {**data, "privacy_consent": "y"})
    assert response.status_code == 302
    learner = db.session.scalar(select(Learner).where(Learner.phone == data["phone"]))
    [consent] = consents(learner.id)
    assert (consent.notice_version, consent.occasion, consent.ip) == (
        privacy.NOTICE_VERSION,
        "register",
        "127.0.0.1",
    )
    assert consent.consented_at is not None


def roster_learner():
    return factories.learner(password=None, must_change_password=True, source=AccountSource.ROSTER)


def first_password(client, learner, **fields):
    g.pop("csrf_token", None)
    data = {
        "current_password": learner.id_number[-6:],
        "new_password": "NewPass2026",
        "confirm_password": "NewPass2026",
        **fields,
    }
    return submit_form(client, "/h5/password", data)


def test_a_roster_account_s_first_login_asks_consent_and_a_code_sent_to_the_roster_phone(client):
    learner = roster_learner()
    assert (
        log_in(client, learner, learner.id_number[-6:]).headers["Location"].endswith("/h5/password")
    )
    page = client.get("/h5/password").get_data(as_text=True)
    assert "获取验证码" in page and mask_phone(learner.phone) in page
    assert 'name="privacy_consent"' in page

    # The initial password alone, or with a made-up code, opens nothing.
    refused = first_password(client, learner, privacy_consent="y")
    assert refused.status_code == 400 and "请填写短信验证码" in refused.get_data(as_text=True)
    MemorySmsSender.outbox.clear()
    g.pop("csrf_token", None)
    assert submit_form(client, "/h5/password/code", {}, page="/h5/password").status_code == 302
    [(phone, text)] = MemorySmsSender.outbox
    assert phone == learner.phone
    code = re.search(r"\d{6}", text).group(0)
    wrong = first_password(client, learner, code="000000" if code != "000000" else "111111",
                           privacy_consent="y")  # fmt: skip
    assert wrong.status_code == 400 and "验证码不正确" in wrong.get_data(as_text=True)
    unconsented = first_password(client, learner, code=code)
    assert unconsented.status_code == 400
    assert "请阅读《个人信息保护说明》" in unconsented.get_data(as_text=True)
    assert consents(learner.id) == []

    done = first_password(client, learner, code=code, privacy_consent="y")
    assert done.status_code == 302, done.get_data(as_text=True)
    assert client.get("/h5/home").status_code == 200
    [consent] = consents(learner.id)
    assert consent.occasion == "first_login" and consent.notice_version == privacy.NOTICE_VERSION


def test_without_a_text_message_provider_the_first_login_asks_consent_only(
    app, client, monkeypatch
):
    monkeypatch.setitem(app.config, "SMS_PROVIDER", "")
    learner = roster_learner()
    log_in(client, learner, learner.id_number[-6:])
    page = client.get("/h5/password").get_data(as_text=True)
    assert "获取验证码" not in page and 'name="privacy_consent"' in page
    assert first_password(client, learner, privacy_consent="y").status_code == 302


# --- 我的数据 ---------------------------------------------------------------------------------


def test_my_data_lists_and_downloads_what_the_platform_holds(client):
    learner = factories.learner(name="王芳")
    factories.bind_wechat(learner, "oMYDATA_wangfang")
    plan = factories.plan(year=2022)
    factories.completed_enrollment(learner, plan)
    certificate = certificates.issue_certificate(learner.id, plan.id)
    log_in(client, learner)
    page = client.get("/h5/home").get_data(as_text=True)
    assert "/h5/my-data" in page and "/h5/privacy" in page
    page = client.get("/h5/my-data").get_data(as_text=True)
    for group in ("账号", "学习计划", "订单", "证书", "删除账号"):
        assert group in page
    download = client.get("/h5/my-data.json")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"] == "private, no-store"
    data = json.loads(download.get_data(as_text=True))
    assert data["账号"]["身份证号码"] == learner.id_number
    assert data["账号"]["手机号码"] == learner.phone
    assert data["微信绑定"]["openid"] == "oMYDATA_wangfang"
    assert data["证书"][0]["证书编号"] == certificate.number
    assert data["订单"][0]["金额（元）"] and data["支付记录"][0]["微信支付单号"]
    assert data["学习计划"][0]["已获学时"] == plan.required_hours
    # Someone else's session gets their own data, never this learner's.
    other = client.application.test_client()
    log_in(other, factories.learner())
    assert learner.id_number not in other.get("/h5/my-data.json").get_data(as_text=True)


# --- deletion ------------------------------------------------------------------------------


def request_deletion(client, **fields):
    g.pop("csrf_token", None)
    return submit_form(client, "/h5/my-data/deletion", fields, page="/h5/my-data")


def test_a_deletion_request_is_acted_on_by_staff_and_keeps_what_the_law_requires(app, client):
    learner = factories.learner(name="赵敏")
    factories.bind_wechat(learner, "oERASE_zhaomin")
    plan = factories.plan(year=2022)
    factories.completed_enrollment(learner, plan)
    certificate = certificates.issue_certificate(learner.id, plan.id)
    id_number, phone = learner.id_number, learner.phone
    log_in(client, learner)
    page = client.get("/h5/my-data").get_data(as_text=True)
    assert "依法保留：证书1份、缴费订单1笔、发票0张" in page

    refused = request_deletion(client, reason="不再需要")
    assert refused.status_code == 400 and "请勾选" in refused.get_data(as_text=True)
    assert request_deletion(client, reason="不再需要", confirm="y").status_code == 302
    assert "您已于" in client.get("/h5/my-data").get_data(as_text=True)
    token = csrf_from(client.get("/h5/home").get_data(as_text=True))
    again = client.post("/h5/my-data/deletion", data={"confirm": "y", "csrf_token": token})
    assert again.status_code == 409 and "正在处理" in again.get_data(as_text=True)
    request = db.session.scalar(select(DeletionRequest))
    assert request.status is DeletionStatus.REQUESTED and request.reason == "不再需要"

    staff = factories.staff(StaffRole.STAFF)
    console = app.test_client()
    log_in_staff(console, staff)
    listing = console.get("/admin/deletion-requests").get_data(as_text=True)
    assert "赵敏" in listing and "证书 1 份" in listing and id_number not in listing
    g.pop("csrf_token", None)
    done = submit_form(
        console,
        f"/admin/deletion-requests/{request.id}/complete",
        {},
        page="/admin/deletion-requests",
    )
    assert done.status_code == 302

    db.session.expire_all()
    erased = db.session.get(Learner, learner.id)
    assert erased.erased_at is not None and erased.name == "已注销"
    assert erased.phone is None and erased.id_number != id_number
    assert (
        db.session.scalar(select(WechatBinding).where(WechatBinding.learner_id == learner.id))
        is None
    )
    # Kept: the certificate (still verifiable), the order.
    kept = db.session.get(Certificate, certificate.id)
    assert kept.holder_id_number == id_number
    assert client.get(f"/verify/{certificate.number}").status_code == 200
    assert (
        db.session.scalar(
            select(func.count()).select_from(Order).where(Order.buyer_id == learner.id)
        )
        == 1
    )
    request = db.session.get(DeletionRequest, request.id)
    assert request.status is DeletionStatus.COMPLETED and request.staff_id == staff.id
    assert "依法保留：证书1份" in request.note
    # The learner's login ended, and neither old name logs in again.
    assert client.get("/h5/home").status_code == 302
    for account in (id_number, phone):
        g.pop("csrf_token", None)
        response = submit_form(
            client, "/h5/login", {"account": account, "password": factories.PASSWORD}
        )
        assert response.status_code == 401
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"learner.deletion_request", "learner.erase"} <= actions


def test_staff_may_decline_with_a_reason(app, client):
    learner = factories.learner()
    log_in(client, learner)
    request_deletion(client, confirm="y")
    request = db.session.scalar(select(DeletionRequest))
    console = app.test_client()
    log_in_staff(console, factories.staff(StaffRole.STAFF))
    url = f"/admin/deletion-requests/{request.id}/decline"
    g.pop("csrf_token", None)
    submit_form(console, url, {"note": ""}, page="/admin/deletion-requests")
    assert db.session.get(DeletionRequest, request.id).status is DeletionStatus.REQUESTED
    g.pop("csrf_token", None)
    submit_form(console, url, {"note": "有未完成的退款"}, page="/admin/deletion-requests")
    db.session.expire_all()
    declined = db.session.get(DeletionRequest, request.id)
    assert declined.status is DeletionStatus.DECLINED and declined.note == "有未完成的退款"
    assert db.session.get(Learner, learner.id).erased_at is None


# --- staff seeing whole numbers ------------------------------------------------------------


def test_seeing_a_whole_id_number_or_phone_is_in_the_audit_log(client):
    learner = factories.learner()
    staff = factories.staff(StaffRole.FINANCE)
    log_in_staff(client, staff)
    url = f"/admin/learners/{learner.id}"
    page = client.get(url).get_data(as_text=True)
    assert learner.id_number not in page and mask_id_number(learner.id_number) in page
    assert client.get(url + "/reveal").status_code == 405  # never by a link
    token = csrf_from(page)
    shown = client.post(url + "/reveal", data={"csrf_token": token})
    assert shown.status_code == 200
    text = shown.get_data(as_text=True)
    assert learner.id_number in text and learner.phone in text
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "learner.reveal"))
    assert (entry.staff_id, entry.target_type, entry.target_id, entry.ip) == (
        staff.id,
        "learner",
        str(learner.id),
        "127.0.0.1",
    )


def test_a_unit_admin_sees_whole_numbers_of_their_own_unit_only(client):
    unit = factories.unit()
    own, stranger = factories.learner(unit_obj=unit), factories.learner()
    log_in_staff(client, factories.staff(StaffRole.UNIT_ADMIN, unit_obj=unit))
    token = csrf_from(client.get(f"/admin/learners/{own.id}").get_data(as_text=True))
    assert (
        client.post(f"/admin/learners/{own.id}/reveal", data={"csrf_token": token}).status_code
        == 200
    )
    refused = client.post(f"/admin/learners/{stranger.id}/reveal", data={"csrf_token": token})
    assert refused.status_code == 404
    assert stranger.id_number not in refused.get_data(as_text=True)
