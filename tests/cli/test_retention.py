"""``flask retention run``: personal data past its retention period is deleted, the rest is
left alone, and the audit log says what went."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select

from infra.extensions import db
from models.base import utcnow
from models.makeup import MakeupApplication
from models.orders import PayNotification
from models.roster import RosterImport, RosterImportStatus
from models.staff import AuditLog, StaffRole
from services import stored_files
from tests import factories
from tests.conftest import submit_form
from tests.handlers.paperwork_helpers import log_in, log_in_staff
from tests.roster_files import roster_bytes


def upload_roster(client) -> RosterImport:
    people = [
        ("张三", factories.valid_id_number(), factories.unique_phone(), "男"),
        ("李四", "500103198806011017", factories.unique_phone(), "女"),  # a bad row: a report
    ]
    response = submit_form(
        client, "/admin/rosters", {"file": (io.BytesIO(roster_bytes(people)), "名单.xlsx")}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return db.session.get(RosterImport, record_id)


def files_of(record: RosterImport) -> list[str]:
    return [path for path in (record.stored_path, record.error_report_path) if path]


def run(runner, *args):
    result = runner.invoke(args=["retention", "run", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_roster_previews_never_confirmed_go_after_seven_days(app, client, runner):
    log_in_staff(client, factories.staff(StaffRole.STAFF))
    old, recent = upload_roster(client), upload_roster(client)
    old_files = files_of(old)
    assert len(old_files) == 2 and all(stored_files.exists(path) for path in old_files)
    old.created_at = utcnow() - timedelta(days=7, minutes=1)
    recent.created_at = utcnow() - timedelta(days=6)
    db.session.flush()
    old_id = old.id

    output = run(runner, "--dry-run")
    assert "roster previews never confirmed" in output and "1 due" in output
    assert db.session.get(RosterImport, old_id) is not None

    output = run(runner)
    assert (
        "roster previews never confirmed (rows, uploads, error reports), older than 7 days: 1 deleted"
        in output
    )
    db.session.expire_all()
    assert db.session.get(RosterImport, old_id) is None
    assert not any(stored_files.exists(path) for path in old_files)
    assert db.session.get(RosterImport, recent.id) is not None
    assert all(stored_files.exists(path) for path in files_of(recent))
    entry = db.session.scalar(select(AuditLog).where(AuditLog.target_type == "roster_previews"))
    assert entry.action == "retention.delete" and entry.actor == "cli:retention run"
    assert entry.after == {"deleted": 1, "older_than_days": 7}
    assert "0 deleted" in run(runner).splitlines()[0]  # twice deletes nothing more


def test_imported_rosters_keep_their_counts_and_lose_their_files(app, client, runner):
    log_in_staff(client, factories.staff(StaffRole.STAFF))
    record = upload_roster(client)
    detail = f"/admin/rosters/{record.id}"
    assert submit_form(client, detail + "/confirm", {}, page=detail).status_code == 302
    db.session.refresh(record)
    assert record.status is RosterImportStatus.IMPORTED
    paths = files_of(record)
    record.imported_at = utcnow() - timedelta(days=31)
    db.session.flush()
    run(runner)
    db.session.expire_all()
    kept = db.session.get(RosterImport, record.id)
    assert kept.stored_path is None and kept.error_report_path is None
    assert kept.created_count == 1 and kept.error_count == 1
    assert not any(stored_files.exists(path) for path in paths)
    page = client.get(detail).get_data(as_text=True)
    assert "导入结果" in page and "下载错误报告" not in page


def test_voucher_screenshots_go_a_set_time_after_review(app, client, runner):
    learner = factories.learner()
    plans = [factories.makeup_plan(2018), factories.makeup_plan(2019)]
    log_in(client, learner)
    for plan in plans:
        response = submit_form(
            client,
            f"/h5/makeup/{plan.id}/voucher",
            {
                "order_no": "CQ2019052000123",
                "payer": "李娜",
                "paid_at": "2019-05-20T10:30",
                "platform": "某继续教育网",
                "screenshot": (io.BytesIO(factories.image_bytes()), "pay.png"),
            },
            content_type="multipart/form-data",
        )
        assert response.status_code == 302
    reviewed, pending = db.session.scalars(
        select(MakeupApplication).order_by(MakeupApplication.id)
    ).all()
    staff = client.application.test_client()
    log_in_staff(staff, factories.staff(StaffRole.STAFF))
    detail = f"/admin/makeup/{reviewed.id}"
    assert submit_form(staff, f"{detail}/approve", {}, page=detail).status_code == 302
    db.session.refresh(reviewed)
    screenshot = reviewed.screenshot_path
    reviewed.reviewed_at = utcnow() - timedelta(days=181)
    pending.created_at = utcnow() - timedelta(days=400)  # not reviewed yet: kept
    db.session.flush()

    assert "make-up voucher screenshots, after review, older than 180 days: 1 deleted" in run(
        runner
    )
    db.session.expire_all()
    reviewed = db.session.get(MakeupApplication, reviewed.id)
    assert reviewed.screenshot_path is None and reviewed.screenshot_deleted_at is not None
    assert not stored_files.exists(screenshot)
    assert stored_files.exists(db.session.get(MakeupApplication, pending.id).screenshot_path)
    assert "按保存期限删除" in staff.get(detail).get_data(as_text=True)


def test_unverified_pay_notification_samples_go_and_verified_ones_stay(runner):
    old = utcnow() - timedelta(days=15)
    for outcome in ("bad_signature", "stale", "wrong_serial", "paid", "mismatch"):
        db.session.add(
            PayNotification(kind="transaction", headers={}, body="{}", outcome=outcome,
                            received_at=old)
        )  # fmt: skip
    db.session.add(
        PayNotification(kind="transaction", headers={}, body="{}", outcome="bad_signature",
                        received_at=utcnow())
    )  # fmt: skip
    db.session.flush()
    assert "samples of pay notifications that did not verify, older than 14 days: 3 deleted" in run(
        runner
    )
    left = sorted(db.session.scalars(select(PayNotification.outcome)))
    assert left == ["bad_signature", "mismatch", "paid"]
