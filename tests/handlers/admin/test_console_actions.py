"""Console actions: who acted (the Actor in the audit log) and what a refusal leaves behind."""

from __future__ import annotations

from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import Learner
from models.catalog import Chapter
from models.certificates import Certificate, CertificateStatus
from models.org import Unit
from models.staff import AuditLog, StaffRole
from services.paperwork import certificates
from tests import factories
from tests.conftest import csrf_from, submit_form


def audit_entries(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_a_staff_action_is_recorded_with_the_staff_member_label_and_address(client, login_staff):
    member = login_staff(StaffRole.STAFF)
    district = factories.district("500106")
    response = submit_form(
        client,
        "/admin/units/new",
        {"name": "重庆市沙坪坝区审计测试中学", "district_id": district.id},
        page="/admin/units",
        environ_base={"REMOTE_ADDR": "198.51.100.23"},
    )
    assert response.status_code == 302
    [entry] = audit_entries("unit.create")
    assert (entry.staff_id, entry.actor, entry.ip) == (
        member.id,
        f"staff:{member.username}",
        "198.51.100.23",
    )


def test_behind_the_proxy_the_audit_log_keeps_the_clients_address(app, make_app):
    proxied = make_app(
        {"APP_ENV": "test", "STORAGE_DIR": app.config["STORAGE_DIR"], "TRUSTED_PROXIES": 1}
    )
    console = proxied.test_client()
    member = factories.staff(StaffRole.ADMIN)
    through_proxy = {
        "headers": {"X-Forwarded-For": "203.0.113.77"},
        "environ_base": {"REMOTE_ADDR": "10.0.0.2"},
    }
    assert (
        submit_form(
            console,
            "/admin/login",
            {"username": member.username, "password": factories.PASSWORD},
            **through_proxy,
        ).status_code
        == 302
    )
    response = submit_form(
        console,
        "/admin/staff",
        {"username": "proxied01", "name": "代理后", "role": "finance", "password": "Money2022x"},
        **through_proxy,
    )
    assert response.status_code == 302
    [entry] = audit_entries("staff.create")
    assert (entry.staff_id, entry.actor, entry.ip) == (
        member.id,
        f"staff:{member.username}",
        "203.0.113.77",
    )


def test_a_refused_form_keeps_its_errors_and_writes_nothing(client, login_staff):
    login_staff(StaffRole.STAFF)
    district = factories.district("500106")
    factories.unit("重庆市沙坪坝区某中学", "500106")
    units = db.session.scalar(select(func.count(Unit.id)))
    response = submit_form(
        client,
        "/admin/units/new",
        {"name": "重庆市沙坪坝区某中学", "district_id": district.id},
        page="/admin/units",
    )
    assert response.status_code == 400
    assert "该区县下已有同名单位。" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Unit.id))) == units
    assert audit_entries("unit.create") == []


def test_a_refused_button_is_flashed_and_deletes_nothing(client, login_staff):
    login_staff(StaffRole.STAFF)
    plan = factories.plan(courses=1)
    chapter = plan.courses[0].chapters[0]
    factories.paid_order(factories.learner(), plan)  # a learner holds the plan
    page = f"/admin/courses/{chapter.course_id}"
    response = submit_form(client, f"/admin/chapters/{chapter.id}/delete", {}, page=page)
    assert response.status_code == 302 and response.headers["Location"].endswith(page)
    shown = client.get(page).get_data(as_text=True)
    assert "已有学员购买该学习计划，不能删除章节" in shown
    assert db.session.get(Chapter, chapter.id) is not None
    assert audit_entries("chapter.delete") == []


def test_an_invalid_button_form_is_flashed_in_chinese(client, login_staff):
    login_staff(StaffRole.ADMIN)
    other = factories.staff(StaffRole.FINANCE)
    token = csrf_from(client.get("/admin/staff").get_data(as_text=True))
    response = client.post(
        f"/admin/staff/{other.id}/password", data={"csrf_token": token, "password": ""}
    )
    assert response.status_code == 302
    assert "请填写新密码。" in client.get("/admin/staff").get_data(as_text=True)
    assert audit_entries("staff.reset_password") == []


def test_a_refusal_undoes_what_the_service_wrote_before_it_refused(client, login_staff):
    """Reissuing renames the learner and revokes the old certificate before it finds there is
    no unit or district to print: the refusal leaves both as they were."""
    login_staff(StaffRole.STAFF)
    learner, plan = factories.learner(name="李那"), factories.plan()
    factories.completed_enrollment(learner, plan)
    certificate = certificates.issue_certificate(learner.id, plan.id)
    learner.unit_id = learner.district_id = None
    db.session.flush()
    db.session.expire_all()
    page = f"/admin/certificates/{certificate.id}"
    response = submit_form(
        client,
        f"{page}/reissue",
        {"reason": "姓名录入错误", "corrected_name": "李娜"},
        page=page,
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(page)
    assert "不能补发证书" in client.get(page).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Learner, learner.id).name == "李那"
    assert db.session.get(Certificate, certificate.id).status is CertificateStatus.VALID
    assert audit_entries("learner.correct_name") == audit_entries("certificate.revoke") == []
