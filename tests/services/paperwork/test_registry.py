"""The provincial registry outbox: records made from certificates and withdrawals, the Excel
batch file, and the signed HTTPS adapter against the simulated registry."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta

import openpyxl
import pytest
import requests
from sqlalchemy import func, select

from infra.extensions import db
from infra.transaction import commit
from models.base import utcnow
from models.registry import RegistryAdapter, RegistryKind, RegistryRecord, RegistryStatus
from models.staff import AuditLog, StaffRole
from services.audit import Actor
from services.errors import Conflict, ValidationError
from services.paperwork import certificates, registry, tasks
from tests import factories
from tests.conftest import submit_form

STAFF = Actor.system("test:registry")


def certified(name: str = "王芳"):
    learner = factories.learner(name=name)
    plan = factories.plan(year=2026, required_hours=30)
    factories.completed_enrollment(learner, plan)
    certificate = certificates.issue_certificate(learner.id, plan.id)
    return learner, plan, certificate


def records(kind: RegistryKind | None = None) -> list[RegistryRecord]:
    statement = select(RegistryRecord).order_by(RegistryRecord.id)
    if kind is not None:
        statement = statement.where(RegistryRecord.kind == kind)
    return list(db.session.scalars(statement))


# --- the outbox -----------------------------------------------------------------------------


def test_an_issued_certificate_queues_its_completion_once():
    learner, plan, certificate = certified()
    [record] = records()
    assert record.kind is RegistryKind.COMPLETION
    assert record.certificate_number == certificate.number
    assert record.adapter is RegistryAdapter.EXCEL and record.status is RegistryStatus.PENDING
    assert record.payload["name"] == "王芳"
    assert record.payload["id_number"] == learner.id_number
    assert record.payload["hours"] == 30 and record.payload["year"] == 2026
    # Asking again (the certificate page opened twice, the completion queued by hand) adds none.
    assert certificates.issue_certificate(learner.id, plan.id).id == certificate.id
    assert registry.queue_completion(learner.id, plan.id).id == record.id
    assert len(records()) == 1


def test_a_withdrawal_names_the_reported_certificate_and_needs_a_reason():
    learner, plan, certificate = certified()
    with pytest.raises(ValidationError):
        registry.queue_withdrawal(learner.id, plan.id, reason="  ")
    withdrawal = registry.queue_withdrawal(learner.id, plan.id, reason="学习记录核查不实")
    assert withdrawal is not None
    assert withdrawal.kind is RegistryKind.WITHDRAWAL
    assert withdrawal.certificate_number == certificate.number
    assert withdrawal.payload["reason"] == "学习记录核查不实"
    again = registry.queue_withdrawal(learner.id, plan.id, reason="再次撤销")
    assert again.id == withdrawal.id
    assert len(records(RegistryKind.WITHDRAWAL)) == 1


def test_nothing_is_withdrawn_when_the_registry_never_heard_of_the_plan():
    learner = factories.learner()
    plan = factories.plan()
    factories.completed_enrollment(learner, plan)  # completed, no certificate yet
    assert registry.queue_withdrawal(learner.id, plan.id, reason="撤销") is None
    assert registry.queue_completion(learner.id, plan.id) is None
    assert records() == []


def test_a_reissue_withdraws_the_old_number_and_reports_the_new_one():
    _, _, old = certified()
    new = certificates.reissue_certificate(
        old.id, actor=STAFF, reason="姓名有误", corrected_name="王芳芳"
    )
    kinds = [(r.kind, r.certificate_number) for r in records()]
    assert kinds == [
        (RegistryKind.COMPLETION, old.number),
        (RegistryKind.WITHDRAWAL, old.number),
        (RegistryKind.COMPLETION, new.number),
    ]
    assert records()[2].payload["name"] == "王芳芳"
    assert "姓名有误" in records()[1].payload["reason"]


def test_backfill_queues_certificates_issued_before_the_outbox():
    _, _, certificate = certified()
    db.session.execute(db.delete(RegistryRecord))
    assert registry.backfill() == 1
    assert registry.backfill() == 0
    [record] = records()
    assert record.certificate_number == certificate.number


# --- the Excel adapter ----------------------------------------------------------------------


def test_a_batch_file_has_the_documented_layout_and_is_confirmed_by_staff():
    learner, plan, certificate = certified()
    registry.queue_withdrawal(learner.id, plan.id, reason="重复登记")
    number = registry.make_batch(actor=STAFF)
    assert {r.status for r in records()} == {RegistryStatus.EXPORTED}
    with pytest.raises(Conflict):
        registry.make_batch(actor=STAFF)  # nothing left waiting

    sheet = openpyxl.load_workbook(io.BytesIO(registry.batch_file(number))).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert sheet.title == "学时上报"
    assert rows[0] == [name for name, _ in registry.BATCH_COLUMNS]
    assert rows[1][:8] == [
        1,
        "学时登记",
        certificate.number,
        "王芳",
        learner.id_number,
        2026,
        plan.title,
        30,
    ]
    assert rows[2][1] == "学时撤销" and rows[2][11] == "重复登记"
    assert len(rows) == 3

    assert registry.confirm_batch(number, actor=STAFF) == 2
    assert {r.status for r in records()} == {RegistryStatus.ACCEPTED}
    assert {r.receipt for r in records()} == {number}
    with pytest.raises(Conflict):
        registry.confirm_batch(number, actor=STAFF)


def test_staff_make_download_and_confirm_a_batch_in_the_console(app):
    _, _, certificate = certified()
    staff = factories.staff(StaffRole.STAFF)
    console = app.test_client()
    submit_form(
        console, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    page = console.get("/admin/registry").get_data(as_text=True)
    assert certificate.number in page and "生成上报批次（1条待上报）" in page
    made = submit_form(console, "/admin/registry/batches", {}, page="/admin/registry")
    assert made.status_code == 302
    [record] = records()
    db.session.refresh(record)
    assert record.status is RegistryStatus.EXPORTED
    download = console.get(f"/admin/registry/batches/{record.batch_number}.xlsx")
    assert download.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(download.data)).active
    assert sheet.cell(row=2, column=3).value == certificate.number
    confirmed = submit_form(
        console,
        f"/admin/registry/batches/{record.batch_number}/confirm",
        {},
        page="/admin/registry",
    )
    assert confirmed.status_code == 302
    db.session.refresh(record)
    assert record.status is RegistryStatus.ACCEPTED
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.target_type == "registry_batch")
    )
    assert sorted(actions) == ["registry.batch", "registry.confirm"]
    assert console.get("/admin/registry/batches/RB0.xlsx").status_code == 404


# --- the HTTPS adapter ----------------------------------------------------------------------


def test_records_are_sent_signed_and_accepted_by_the_registry(registry_sim):
    learner, plan, certificate = certified()
    commit()  # the send job runs after the commit (synchronously in tests)
    [completion] = records()
    db.session.refresh(completion)
    assert completion.adapter is RegistryAdapter.HTTPS
    assert completion.status is RegistryStatus.ACCEPTED, completion.last_error
    assert completion.receipt.startswith("SB") and completion.attempts == 1
    assert registry_sim.registered(certificate.number)
    received = registry_sim.records[("completion", certificate.number)]
    assert received["id_number"] == learner.id_number
    assert received["record_id"] == registry.record_id_text(completion)

    registry.queue_withdrawal(learner.id, plan.id, reason="学时核减")
    commit()
    withdrawal = records(RegistryKind.WITHDRAWAL)[0]
    db.session.refresh(withdrawal)
    assert withdrawal.status is RegistryStatus.ACCEPTED
    assert not registry_sim.registered(certificate.number)


def test_a_failed_send_is_retried_on_schedule_until_accepted(registry_sim):
    registry_sim.fail_next(2)
    certified()
    commit()
    [record] = records()
    db.session.refresh(record)
    assert record.status is RegistryStatus.RETRYING and record.attempts == 1
    assert "503" in record.last_error
    assert record.next_attempt_at > utcnow()
    assert registry.due_record_ids() == []  # not due yet
    later = utcnow() + timedelta(seconds=registry.RETRY_SCHEDULE[0] + 1)
    assert registry.due_record_ids(now=later) == [record.id]
    assert registry.send(record.id, now=later) is RegistryStatus.RETRYING
    assert record.attempts == 2
    assert record.next_attempt_at - later == timedelta(seconds=registry.RETRY_SCHEDULE[1])
    record.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    tasks.send_due_registry_records()  # the job `registry send` queues
    db.session.refresh(record)
    assert record.status is RegistryStatus.ACCEPTED and record.attempts == 3
    assert record.last_error == ""


def test_a_record_fails_for_good_after_the_last_attempt(registry_sim, app, monkeypatch):
    monkeypatch.setitem(app.config, "REGISTRY_MAX_ATTEMPTS", 2)
    registry_sim.fail_next(2)
    certified()
    commit()
    [record] = records()
    db.session.refresh(record)
    registry.send(record.id, now=record.next_attempt_at)
    assert record.status is RegistryStatus.FAILED and record.next_attempt_at is None
    assert registry.due_record_ids(now=utcnow() + timedelta(days=30)) == []
    registry.resend(record.id, actor=STAFF)
    commit()
    db.session.refresh(record)
    assert record.status is RegistryStatus.ACCEPTED


def test_a_wrong_secret_is_refused_by_the_registry_and_retried(registry_sim, app, monkeypatch):
    monkeypatch.setitem(app.config, "REGISTRY_SECRET", "not-the-shared-secret")
    certified()
    commit()
    [record] = records()
    db.session.refresh(record)
    assert record.status is RegistryStatus.RETRYING
    assert "401" in record.last_error and "SIGN_ERROR" in record.last_error
    assert registry_sim.records == {}


def test_a_record_the_registry_refuses_waits_for_staff(registry_sim):
    certified()
    [record] = records()
    record.payload = {**record.payload, "id_number": "500103199001011234"}  # checksum wrong
    db.session.flush()
    commit()
    db.session.refresh(record)
    assert record.status is RegistryStatus.REJECTED
    assert "id_number" in record.last_error
    assert registry.due_record_ids(now=utcnow() + timedelta(days=30)) == []
    with pytest.raises(Conflict):
        registry.make_batch(actor=STAFF)  # an HTTPS record never goes into a batch file
    # Sent again by staff, the same content is refused again: nothing is accepted by itself.
    registry.resend(record.id, actor=STAFF)
    commit()
    db.session.refresh(record)
    assert record.status is RegistryStatus.REJECTED and record.attempts == 1
    assert registry_sim.records == {}


def test_a_withdrawal_waits_until_its_completion_was_accepted(registry_sim):
    registry_sim.fail_next(1)
    learner, plan, certificate = certified()
    registry.queue_withdrawal(learner.id, plan.id, reason="撤销")
    commit()
    completion, withdrawal = records()
    db.session.refresh(completion)
    db.session.refresh(withdrawal)
    assert completion.status is RegistryStatus.RETRYING
    assert withdrawal.status is RegistryStatus.RETRYING and withdrawal.attempts == 0
    assert "等待" in withdrawal.last_error
    later = utcnow() + timedelta(hours=1)
    for record_id in registry.due_record_ids(now=later):
        registry.send(record_id, now=later)
    assert completion.status is RegistryStatus.ACCEPTED
    assert withdrawal.status is RegistryStatus.ACCEPTED
    assert not registry_sim.registered(certificate.number)


def test_a_withdrawal_of_a_refused_completion_waits_a_day_for_staff(registry_sim):
    learner, plan, _ = certified()
    completion = records()[0]
    completion.payload = {**completion.payload, "hours": 0}  # the registry refuses it
    db.session.flush()
    commit()
    registry.queue_withdrawal(learner.id, plan.id, reason="撤销")
    commit()
    completion, withdrawal = records()
    db.session.refresh(completion)
    db.session.refresh(withdrawal)
    assert completion.status is RegistryStatus.REJECTED and "hours" in completion.last_error
    assert withdrawal.status is RegistryStatus.RETRYING and withdrawal.attempts == 0
    assert withdrawal.next_attempt_at - utcnow() > timedelta(hours=23)


def test_the_simulated_registry_checks_signature_age_and_replays(registry_sim, app):
    _, _, certificate = certified()
    [record] = records()
    url = app.config["REGISTRY_ENDPOINT"]
    body = registry.request_body(record)
    headers = registry.signed_headers(body)
    assert requests.post(url, data=body.encode(), headers=headers, timeout=5).json()["code"] == "OK"
    replay = requests.post(url, data=body.encode(), headers=headers, timeout=5)
    assert replay.status_code == 401 and "Nonce" in replay.json()["message"]
    stale = registry.signed_headers(body, now=time.time() - 3600)
    assert requests.post(url, data=body.encode(), headers=stale, timeout=5).status_code == 401
    tampered = json.loads(body) | {"hours": 300}
    forged = requests.post(
        url,
        data=json.dumps(tampered, ensure_ascii=False).encode(),
        headers=registry.signed_headers(body),
        timeout=5,
    )
    assert forged.status_code == 401
    again = requests.post(url, data=body.encode(), headers=registry.signed_headers(body), timeout=5)
    assert again.json()["code"] == "DUPLICATE"
    assert registry_sim.records[("completion", certificate.number)]["hours"] == 30
    assert db.session.scalar(select(func.count()).select_from(RegistryRecord)) == 1


def test_production_checks_the_registry_and_invoice_settings(monkeypatch):
    from tests.test_config import production_environment
    from wxapp import create_app
    from wxapp.config import ConfigurationError

    production_environment(monkeypatch, REGISTRY_ADAPTER="https")
    with pytest.raises(ConfigurationError) as caught:
        create_app()
    assert "REGISTRY_ENDPOINT, REGISTRY_PLATFORM_ID, REGISTRY_SECRET" in str(caught.value)
    production_environment(
        monkeypatch,
        REGISTRY_ADAPTER="https",
        REGISTRY_ENDPOINT="http://registry.example.cn/api/records",
        REGISTRY_PLATFORM_ID="GX-500000",
        REGISTRY_SECRET="a-shared-secret",
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app()
    assert "REGISTRY_ENDPOINT must be an https:// address" in str(caught.value)
    production_environment(monkeypatch, REGISTRY_ADAPTER="ftp")
    with pytest.raises(ConfigurationError) as caught:
        create_app()
    assert "REGISTRY_ADAPTER" in str(caught.value)
    production_environment(monkeypatch, INVOICE_PROVIDER="baiwang")
    with pytest.raises(ConfigurationError) as caught:
        create_app()
    assert "INVOICE_PROVIDER" in str(caught.value)
