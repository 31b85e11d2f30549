"""The provincial registry outbox (省继续教育学时登记): every completed plan and every withdrawal
of credit becomes a record keyed by the certificate's number, sent to the registry by one of
two adapters (``REGISTRY_ADAPTER``):

- ``excel``: staff make a batch file in the console (the layout is ``BATCH_COLUMNS``, documented
  in docs/paperwork.md), upload it to the registry's site, and confirm the batch once the
  registry took it;
- ``https``: each record goes as signed JSON to ``REGISTRY_ENDPOINT`` by a background job, with
  retries on a schedule (``RETRY_SCHEDULE``) until the registry accepts or refuses it.

A record is made once per kind and number (a unique constraint), so calling twice changes
nothing. What the registry receives (``payload``) is fixed when the record is made. A
withdrawal is sent only after the registry accepted the completion it withdraws.

Services flush; the caller commits. The send job is queued after that commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from infra.jobs import enqueue
from infra.transaction import after_commit
from models.base import utcnow
from models.certificates import Certificate
from models.enrollments import Enrollment
from models.registry import RegistryAdapter, RegistryKind, RegistryRecord, RegistryStatus
from services import spreadsheets
from services.audit import Actor, record_action
from services.display import LOCAL_TZ
from services.errors import Conflict, NotFound, ValidationError

log = logging.getLogger(__name__)

# Waits after each failed send: 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, then every 24 h.
RETRY_SCHEDULE = (60, 300, 1800, 7200, 21600, 43200, 86400, 86400, 86400, 86400)
BATCH_LIMIT = 5000
SIGNATURE_HEADERS = (
    "X-Registry-Platform",
    "X-Registry-Timestamp",
    "X-Registry-Nonce",
    "X-Registry-Signature",
)

# The batch file: one sheet, these columns in this order (docs/paperwork.md).
BATCH_COLUMNS = (
    ("序号", 6),
    ("记录类型", 10),
    ("证书编号", 28),
    ("姓名", 12),
    ("身份证号", 20),
    ("年度", 6),
    ("科目名称", 30),
    ("学时", 6),
    ("工作单位", 30),
    ("完成日期", 12),
    ("发证日期", 12),
    ("撤销原因", 24),
    ("平台记录号", 14),
)
BATCH_SHEET = "学时上报"


def adapter() -> RegistryAdapter:
    return RegistryAdapter(current_app.config["REGISTRY_ADAPTER"])


def record_id_text(record: RegistryRecord) -> str:
    """The platform's number for a record, as the registry sees it."""
    return f"GXR{record.id:09d}"


def _local_date(moment: datetime | None) -> str:
    return moment.astimezone(LOCAL_TZ).date().isoformat() if moment else ""


def _payload(certificate: Certificate, kind: RegistryKind, reason: str) -> dict[str, Any]:
    enrollment = db.session.get(Enrollment, certificate.enrollment_id)
    completed_at = enrollment.completed_at if enrollment is not None else None
    return {
        "kind": kind.value,
        "certificate_number": certificate.number,
        "name": certificate.holder_name,
        "id_number": certificate.holder_id_number,
        "year": certificate.year,
        "plan_title": certificate.plan_title,
        "hours": certificate.hours,
        "unit_name": certificate.unit_name,
        "completed_on": _local_date(completed_at or certificate.issued_at),
        "issued_on": _local_date(certificate.issued_at),
        "reason": reason,
    }


def _existing(kind: RegistryKind, number: str) -> RegistryRecord | None:
    return db.session.scalar(
        select(RegistryRecord).where(
            RegistryRecord.kind == kind, RegistryRecord.certificate_number == number
        )
    )


def _queue(certificate: Certificate, kind: RegistryKind, reason: str = "") -> RegistryRecord:
    existing = _existing(kind, certificate.number)
    if existing is not None:
        return existing
    record = RegistryRecord(
        kind=kind,
        certificate_number=certificate.number,
        learner_id=certificate.learner_id,
        plan_id=certificate.plan_id,
        certificate_id=certificate.id,
        adapter=adapter(),
        payload=_payload(certificate, kind, reason),
        status=RegistryStatus.PENDING,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError:
        # Queued by a concurrent request a moment ago: that one is the record.
        existing = _existing(kind, certificate.number)
        if existing is None:
            raise
        return existing
    if record.adapter is RegistryAdapter.HTTPS:
        from services.paperwork import tasks

        after_commit(enqueue, tasks.send_registry_record, record.id)
    return record


def queue_certificate(certificate: Certificate) -> RegistryRecord:
    """A certificate was issued: its plan's completion goes to the registry."""
    return _queue(certificate, RegistryKind.COMPLETION)


def queue_completion(learner_id: int, plan_id: int) -> RegistryRecord | None:
    """The learner's completed plan, by its valid certificate; ``None`` while there is none
    (the certificate is issued when the learner confirms the unit, and that queues it)."""
    from services.paperwork.certificates import valid_certificate

    certificate = valid_certificate(learner_id, plan_id)
    return queue_certificate(certificate) if certificate is not None else None


def _reason(raw: str) -> str:
    reason = " ".join((raw or "").split())
    if not reason:
        raise ValidationError("reason", "请填写撤销学时的原因。")
    if len(reason) > 200:
        raise ValidationError("reason", "撤销原因不能超过200个字。")
    return reason


def queue_withdrawal(learner_id: int, plan_id: int, *, reason: str) -> RegistryRecord | None:
    """The learner's credit for the plan was withdrawn: the registry is told, by the number of
    the last certificate it was told of. ``None`` when the registry never heard of the plan
    (no completion was queued), so there is nothing to withdraw. Safe to call more than once;
    the caller commits."""
    clean = _reason(reason)
    reported = db.session.scalar(
        select(RegistryRecord)
        .where(
            RegistryRecord.learner_id == learner_id,
            RegistryRecord.plan_id == plan_id,
            RegistryRecord.kind == RegistryKind.COMPLETION,
        )
        .order_by(RegistryRecord.id.desc())
        .limit(1)
    )
    if reported is None or reported.certificate_id is None:
        return None
    certificate = db.session.get(Certificate, reported.certificate_id)
    if certificate is None:
        return None
    return _queue(certificate, RegistryKind.WITHDRAWAL, clean)


def queue_certificate_withdrawal(certificate: Certificate, reason: str) -> RegistryRecord | None:
    """A certificate the registry was told of no longer stands (revoked, reissued, refunded):
    its number is withdrawn. ``None`` when its completion was never queued."""
    if _existing(RegistryKind.COMPLETION, certificate.number) is None:
        return None
    clean = " ".join(reason.split())[:200] or "证书作废"
    return _queue(certificate, RegistryKind.WITHDRAWAL, clean)


def backfill(limit: int = 10000) -> int:
    """Queue the completion of every valid certificate the registry has not heard of (once,
    when the outbox is first switched on). Returns how many were queued."""
    from models.certificates import CertificateStatus

    reported = select(RegistryRecord.certificate_number).where(
        RegistryRecord.kind == RegistryKind.COMPLETION
    )
    certificates = db.session.scalars(
        select(Certificate)
        .where(Certificate.status == CertificateStatus.VALID)
        .where(Certificate.number.not_in(reported))
        .order_by(Certificate.id)
        .limit(limit)
    )
    count = 0
    for certificate in certificates:
        queue_certificate(certificate)
        count += 1
    return count


# --- the HTTPS adapter ----------------------------------------------------------------------


def signature(secret: str, timestamp: str, nonce: str, body: str) -> str:
    """HMAC-SHA256 (hex) of ``timestamp\\nnonce\\nbody\\n`` with the shared secret."""
    message = f"{timestamp}\n{nonce}\n{body}\n".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def request_body(record: RegistryRecord) -> str:
    body = {
        "record_id": record_id_text(record),
        "platform_id": current_app.config["REGISTRY_PLATFORM_ID"],
        **record.payload,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def signed_headers(body: str, *, now: float | None = None) -> dict[str, str]:
    config = current_app.config
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "X-Registry-Platform": config["REGISTRY_PLATFORM_ID"],
        "X-Registry-Timestamp": timestamp,
        "X-Registry-Nonce": nonce,
        "X-Registry-Signature": signature(config["REGISTRY_SECRET"], timestamp, nonce, body),
    }


def _configured() -> str | None:
    missing = [
        key
        for key in ("REGISTRY_ENDPOINT", "REGISTRY_PLATFORM_ID", "REGISTRY_SECRET")
        if not current_app.config.get(key)
    ]
    return ", ".join(missing) + " 未配置" if missing else None


def _retry_later(record: RegistryRecord, error: str, now: datetime) -> None:
    record.last_error = error[:300]
    if record.attempts >= int(current_app.config["REGISTRY_MAX_ATTEMPTS"]):
        record.status = RegistryStatus.FAILED
        record.next_attempt_at = None
        log.error("registry record %s failed for good: %s", record.id, error)
        return
    wait = RETRY_SCHEDULE[min(record.attempts, len(RETRY_SCHEDULE)) - 1]
    record.status = RegistryStatus.RETRYING
    record.next_attempt_at = now + timedelta(seconds=wait)


def _completion_wait(record: RegistryRecord) -> int | None:
    """Seconds a withdrawal waits before asking again, while the registry has not accepted
    the completion it withdraws; None when it may go now. A completion refused or failed
    waits for staff, so its withdrawal asks only daily."""
    if record.kind is not RegistryKind.WITHDRAWAL:
        return None
    completion = _existing(RegistryKind.COMPLETION, record.certificate_number)
    if completion is None or completion.status is RegistryStatus.ACCEPTED:
        return None
    if completion.status in (RegistryStatus.REJECTED, RegistryStatus.FAILED):
        return 86400
    return RETRY_SCHEDULE[0]


def send(record_id: int, *, now: datetime | None = None) -> RegistryStatus | None:
    """Send one record of the HTTPS adapter, now; what it became. Locks the record's row so
    that two workers never send it at once."""
    now = now or utcnow()
    record = db.session.scalar(
        select(RegistryRecord)
        .where(RegistryRecord.id == record_id)
        .with_for_update(skip_locked=True)
    )
    if record is None or record.adapter is not RegistryAdapter.HTTPS:
        return None
    if record.status not in (RegistryStatus.PENDING, RegistryStatus.RETRYING):
        return record.status
    wait = _completion_wait(record)
    if wait is not None:
        record.last_error = "等待该证书的学时登记被省平台接收后再撤销"
        record.status = RegistryStatus.RETRYING
        record.next_attempt_at = now + timedelta(seconds=wait)
        db.session.flush()
        return record.status
    record.attempts += 1
    record.sent_at = now
    missing = _configured()
    if missing:
        _retry_later(record, missing, now)
        db.session.flush()
        return record.status
    body = request_body(record)
    try:
        response = requests.post(
            current_app.config["REGISTRY_ENDPOINT"],
            data=body.encode(),
            headers=signed_headers(body),
            timeout=float(current_app.config["REGISTRY_TIMEOUT_SECONDS"]),
        )
    except requests.RequestException as exc:
        _retry_later(record, f"无法连接省平台：{exc.__class__.__name__}", now)
        db.session.flush()
        return record.status
    _take_answer(record, response, now)
    db.session.flush()
    return record.status


def _take_answer(record: RegistryRecord, response: requests.Response, now: datetime) -> None:
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    code = str(answer.get("code") or "")
    message = str(answer.get("message") or "")[:200]
    if response.status_code == 200 and code in ("OK", "DUPLICATE"):
        record.status = RegistryStatus.ACCEPTED
        record.receipt = str(answer.get("receipt") or "")[:64] or None
        record.accepted_at = now
        record.next_attempt_at = None
        record.last_error = ""
    elif response.status_code in (400, 409, 422) and code not in ("", "SIGN_ERROR"):
        # The registry read the record and refused what it says: sending again changes nothing.
        record.status = RegistryStatus.REJECTED
        record.next_attempt_at = None
        record.last_error = f"{code}：{message}"[:300]
    else:
        _retry_later(record, f"省平台应答 {response.status_code} {code} {message}".strip(), now)


def due_record_ids(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """HTTPS records waiting to be sent, or whose retry is due, oldest first."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(RegistryRecord.id)
            .where(
                RegistryRecord.adapter == RegistryAdapter.HTTPS,
                RegistryRecord.status.in_((RegistryStatus.PENDING, RegistryStatus.RETRYING)),
                (RegistryRecord.next_attempt_at.is_(None))
                | (RegistryRecord.next_attempt_at <= now),
            )
            .order_by(RegistryRecord.id)
            .limit(limit)
        )
    )


def get_record(record_id: int) -> RegistryRecord:
    record = db.session.get(RegistryRecord, record_id)
    if record is None:
        raise NotFound("上报记录不存在。")
    return record


def resend(record_id: int, *, actor: Actor) -> RegistryRecord:
    """Staff send a refused or failed record again (after the registry fixed its side)."""
    record = get_record(record_id)
    if record.status not in (RegistryStatus.REJECTED, RegistryStatus.FAILED):
        raise Conflict(f"该记录状态为“{record.status.label}”，不需要重新上报。")
    before = record.status.value
    record.status = RegistryStatus.PENDING
    record.attempts = 0
    record.next_attempt_at = None
    db.session.flush()
    record_action(
        actor,
        action="registry.resend",
        target_type="registry_record",
        target_id=record.id,
        before={"status": before},
        after={"status": record.status.value},
    )
    if record.adapter is RegistryAdapter.HTTPS:
        from services.paperwork import tasks

        after_commit(enqueue, tasks.send_registry_record, record.id)
    return record


# --- the Excel adapter ----------------------------------------------------------------------


def _batch_row(index: int, record: RegistryRecord) -> list[object]:
    payload = record.payload
    return [
        index,
        RegistryKind(payload["kind"]).label,
        payload["certificate_number"],
        payload["name"],
        payload["id_number"],
        payload["year"],
        payload["plan_title"],
        payload["hours"],
        payload["unit_name"],
        payload["completed_on"],
        payload["issued_on"],
        payload["reason"],
        record_id_text(record),
    ]


def make_batch(*, actor: Actor, now: datetime | None = None) -> str:
    """Put every Excel record waiting (oldest first, up to ``BATCH_LIMIT``) in a new batch;
    returns its number. The file is drawn from the batch whenever it is downloaded."""
    now = now or utcnow()
    records = list(
        db.session.scalars(
            select(RegistryRecord)
            .where(
                RegistryRecord.adapter == RegistryAdapter.EXCEL,
                RegistryRecord.status == RegistryStatus.PENDING,
            )
            .order_by(RegistryRecord.id)
            .limit(BATCH_LIMIT)
            .with_for_update(skip_locked=True)
        )
    )
    if not records:
        raise Conflict("没有待上报的记录。")
    number = "RB" + now.astimezone(LOCAL_TZ).strftime("%Y%m%d%H%M%S") + f"{records[0].id:06d}"
    for record in records:
        record.status = RegistryStatus.EXPORTED
        record.batch_number = number
        record.sent_at = now
    db.session.flush()
    record_action(
        actor,
        action="registry.batch",
        target_type="registry_batch",
        target_id=number,
        after={"records": len(records)},
    )
    return number


def batch_records(batch_number: str) -> list[RegistryRecord]:
    records = list(
        db.session.scalars(
            select(RegistryRecord)
            .where(RegistryRecord.batch_number == batch_number)
            .order_by(RegistryRecord.id)
        )
    )
    if not records:
        raise NotFound("上报批次不存在。")
    return records


def batch_file(batch_number: str) -> bytes:
    """The batch as the registry's upload file (``BATCH_COLUMNS``)."""
    records = batch_records(batch_number)
    return spreadsheets.table_bytes(
        title=BATCH_SHEET,
        headers=[name for name, _ in BATCH_COLUMNS],
        rows=(_batch_row(index, record) for index, record in enumerate(records, start=1)),
        widths=[width for _, width in BATCH_COLUMNS],
    )


def confirm_batch(batch_number: str, *, actor: Actor, now: datetime | None = None) -> int:
    """Staff uploaded the batch and the registry took it: its records count as reported."""
    now = now or utcnow()
    records = [r for r in batch_records(batch_number) if r.status is RegistryStatus.EXPORTED]
    if not records:
        raise Conflict("该批次已确认过。")
    for record in records:
        record.status = RegistryStatus.ACCEPTED
        record.accepted_at = now
        record.receipt = batch_number
    db.session.flush()
    record_action(
        actor,
        action="registry.confirm",
        target_type="registry_batch",
        target_id=batch_number,
        before={"status": RegistryStatus.EXPORTED.value},
        after={"status": RegistryStatus.ACCEPTED.value, "records": len(records)},
    )
    return len(records)


# --- the console ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    number: str
    records: int
    waiting: int  # exported, not yet confirmed
    made_at: datetime | None


def status_counts() -> dict[RegistryStatus, int]:
    counts: dict[RegistryStatus, int] = {
        row[0]: int(row[1])
        for row in db.session.execute(
            select(RegistryRecord.status, func.count()).group_by(RegistryRecord.status)
        )
    }
    return {status: int(counts.get(status, 0)) for status in RegistryStatus}


def excel_waiting() -> int:
    """Excel records not yet in a batch."""
    return int(
        db.session.scalar(
            select(func.count()).where(
                RegistryRecord.adapter == RegistryAdapter.EXCEL,
                RegistryRecord.status == RegistryStatus.PENDING,
            )
        )
        or 0
    )


def recent_batches(limit: int = 20) -> list[Batch]:
    rows = db.session.execute(
        select(
            RegistryRecord.batch_number,
            func.count(),
            func.count().filter(RegistryRecord.status == RegistryStatus.EXPORTED),
            func.min(RegistryRecord.sent_at),
        )
        .where(RegistryRecord.batch_number.is_not(None))
        .group_by(RegistryRecord.batch_number)
        .order_by(RegistryRecord.batch_number.desc())
        .limit(limit)
    ).all()
    return [Batch(str(row[0]), int(row[1]), int(row[2]), row[3]) for row in rows]


def staff_records(
    status: RegistryStatus | None = None, query: str = "", *, limit: int = 200
) -> list[RegistryRecord]:
    statement = select(RegistryRecord)
    if status is not None:
        statement = statement.where(RegistryRecord.status == status)
    number = query.strip().upper()
    if number:
        statement = statement.where(RegistryRecord.certificate_number == number)
    return list(db.session.scalars(statement.order_by(RegistryRecord.id.desc()).limit(limit)))
