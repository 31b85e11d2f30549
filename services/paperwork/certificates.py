"""Certificates (合格证书): who may have one, issuing it once, its files, revocation,
reissue, and the public verification.

A learner whose enrollment is active and complete (the study ledger sets ``completed_at``
once ``earned_hours`` reach the plan's requirement) may print the certificate. Issuing is
idempotent: one valid certificate per learner and plan, also under concurrent requests (the
partial unique index decides). The certificate keeps a snapshot of what it prints, so a
later change of name or unit does not alter a certificate already issued; staff revoke it
and issue a new one instead, and the old number then verifies as revoked.
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from PIL import Image
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from infra.extensions import db
from models.accounts import Learner
from models.base import utcnow
from models.catalog import Plan
from models.certificates import Certificate, CertificateStatus
from models.enrollments import Enrollment, EnrollmentStatus
from services import stored_files
from services.accounts import org
from services.accounts.identity import clean_text, normalise_code, parse_name
from services.audit import Actor, record_action
from services.display import LOCAL_TZ, mask_id_number, mask_name
from services.errors import Conflict, NotFound, PermissionDenied, ValidationError
from services.paperwork import registry, signing
from services.paperwork.certificate_render import CertificateFace, render_files, seal_box_points
from services.rows import get_row

# Crockford-style alphabet: no I, L, O, U, so a number read aloud or typed is unambiguous.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NUMBER_GROUPS = 4  # 4 groups of 4 characters: 80 random bits
# The refund flow takes certificates back by itself.
REFUND_ACTOR = Actor.system("system:refund")


def new_certificate_number(year: int) -> str:
    """``GX2022-7K3M-9QXD-R2TB-H8WC``: not a counter, not guessable."""
    groups = [
        "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(4)) for _ in range(_NUMBER_GROUPS)
    ]
    return f"GX{year}-" + "-".join(groups)


def normalise_number(raw: str | None) -> str:
    return normalise_code(raw).replace(" ", "").upper()


# --- eligibility ------------------------------------------------------------------------------


def is_complete(enrollment: Enrollment) -> bool:
    return (
        enrollment.status is EnrollmentStatus.ACTIVE
        and enrollment.completed_at is not None
        and enrollment.earned_hours >= enrollment.plan.required_hours
    )


@dataclass(frozen=True)
class CompletedPlan:
    enrollment: Enrollment
    plan: Plan
    certificate: Certificate | None


def completed_plans(learner_id: int) -> list[CompletedPlan]:
    """我的证书: the learner's completed plans, newest year first, with their certificates."""
    enrollments = db.session.scalars(
        select(Enrollment)
        .join(Plan, Plan.id == Enrollment.plan_id)
        .options(contains_eager(Enrollment.plan))
        .where(
            Enrollment.learner_id == learner_id,
            Enrollment.status == EnrollmentStatus.ACTIVE,
            Enrollment.completed_at.is_not(None),
        )
        .order_by(Plan.year.desc(), Plan.id.desc())
    )
    certificates = {
        certificate.plan_id: certificate
        for certificate in db.session.scalars(
            select(Certificate).where(
                Certificate.learner_id == learner_id,
                Certificate.status == CertificateStatus.VALID,
            )
        )
    }
    return [
        CompletedPlan(enrollment, enrollment.plan, certificates.get(enrollment.plan_id))
        for enrollment in enrollments
        if is_complete(enrollment)
    ]


def check_eligible(learner_id: int, plan_id: int) -> Enrollment:
    """The complete enrollment, or the reason why there is no certificate yet."""
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.learner_id == learner_id, Enrollment.plan_id == plan_id)
    )
    if enrollment is None or enrollment.status is not EnrollmentStatus.ACTIVE:
        raise NotFound("您没有参加该学习计划。")
    if not is_complete(enrollment):
        raise Conflict(
            f"该计划需完成{enrollment.plan.required_hours}学时方可打印证书，"
            f"您已完成{enrollment.earned_hours}学时，请继续学习。"
        )
    return enrollment


# --- the profile the certificate prints -----------------------------------------------------


def workplace_text(learner: Learner) -> str | None:
    if learner.unit is not None:
        return learner.unit.name
    if learner.district is not None:
        return f"{learner.district.name}（档案所在区县）"
    return None


def confirm_profile(learner_id: int, *, unit_id: int | None, district_id: int | None) -> Learner:
    """完善个人信息: the unit (searched), or the district that holds the person's file."""
    learner = get_row(Learner, learner_id, "学员不存在。")
    if unit_id:
        unit = org.get_unit(unit_id)
        learner.unit_id, learner.district_id = unit.id, unit.district_id
    elif district_id:
        district = org.get_district(district_id)
        learner.unit_id, learner.district_id = None, district.id
    else:
        raise ValidationError("unit_id", "请选择工作单位；找不到单位时请选择档案所在区县。")
    db.session.flush()
    db.session.refresh(learner)
    return learner


# --- issuing ------------------------------------------------------------------------------------


def valid_certificate(learner_id: int, plan_id: int) -> Certificate | None:
    return db.session.scalar(
        select(Certificate).where(
            Certificate.learner_id == learner_id,
            Certificate.plan_id == plan_id,
            Certificate.status == CertificateStatus.VALID,
        )
    )


def issue_certificate(learner_id: int, plan_id: int, *, now: datetime | None = None) -> Certificate:
    """The learner's valid certificate of the plan, issued now if there is none yet."""
    existing = valid_certificate(learner_id, plan_id)
    if existing is not None:
        return existing
    enrollment = check_eligible(learner_id, plan_id)
    learner = get_row(Learner, learner_id, "学员不存在。")
    if workplace_text(learner) is None:
        raise ValidationError("unit_id", "请先完善个人信息：选择工作单位或档案所在区县。")
    certificate = _new_certificate(learner, enrollment, now or utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(certificate)
            db.session.flush()
    except IntegrityError:
        # Issued by a concurrent request a moment ago: that one is the certificate.
        existing = valid_certificate(learner_id, plan_id)
        if existing is None:
            raise
        return existing
    registry.queue_certificate(certificate)
    return certificate


def _new_certificate(learner: Learner, enrollment: Enrollment, now: datetime) -> Certificate:
    plan = enrollment.plan
    return Certificate(
        number=new_certificate_number(plan.year),
        learner_id=learner.id,
        plan_id=plan.id,
        enrollment_id=enrollment.id,
        holder_name=learner.name,
        holder_id_number=learner.id_number,
        unit_name=workplace_text(learner) or "",
        plan_title=plan.title,
        year=plan.year,
        hours=enrollment.earned_hours,
        status=CertificateStatus.VALID,
        issued_at=now,
    )


# --- files --------------------------------------------------------------------------------------


def stands(certificate: Certificate) -> bool:
    """A valid certificate: it may be printed, revoked or reissued (a revoked one is final)."""
    return certificate.status is CertificateStatus.VALID


@dataclass(frozen=True)
class LearnerCertificate:
    """我的证书 → one certificate, with what its holder may do."""

    certificate: Certificate

    @property
    def can_download(self) -> bool:
        return stands(self.certificate)


def certificate_page(certificate_id: int, learner_id: int) -> LearnerCertificate:
    return LearnerCertificate(owned_certificate(certificate_id, learner_id))


def owned_certificate(certificate_id: int, learner_id: int) -> Certificate:
    certificate = db.session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound("证书不存在。")
    if certificate.learner_id != learner_id:
        raise PermissionDenied("只能查看自己的证书。")
    return certificate


def verify_url(number: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/verify/{number}"


def certificate_face(certificate: Certificate) -> CertificateFace:
    return CertificateFace(
        number=certificate.number,
        holder_name=certificate.holder_name,
        holder_id_number=certificate.holder_id_number,
        unit_name=certificate.unit_name,
        plan_title=certificate.plan_title,
        year=certificate.year,
        hours=certificate.hours,
        issued_on=certificate.issued_at.astimezone(LOCAL_TZ).date(),
        verify_url=verify_url(certificate.number),
    )


def certificate_file(certificate_id: int, learner_id: int, kind: str) -> str:
    """The stored PNG or PDF of the owner's valid certificate; both are drawn on the first
    request and kept."""
    certificate = owned_certificate(certificate_id, learner_id)
    if not stands(certificate):
        raise Conflict("该证书已作废，请在“我的证书”中打印新证书。")
    ensure_files(certificate)
    path = {"png": certificate.png_path, "pdf": certificate.pdf_path}[kind]
    assert path is not None  # ensure_files stored both
    return path


SIGNED_SUFFIX = ".signed.pdf"


def has_files(certificate: Certificate) -> bool:
    """Both files stored, the PDF signed (a PDF drawn before signing began is not)."""
    return (
        stored_files.exists(certificate.png_path)
        and stored_files.exists(certificate.pdf_path)
        and certificate.pdf_path.endswith(SIGNED_SUFFIX)
    )


def ensure_files(certificate: Certificate) -> None:
    """Draw and sign the files of a valid certificate once. A revoked (or reissued)
    certificate is never drawn or signed again: its number verifies as revoked."""
    if not stands(certificate):
        raise Conflict("该证书已作废，请在“我的证书”中打印新证书。")
    if has_files(certificate):
        return
    png, pdf = render_files(certificate_face(certificate))
    signed = sign_certificate_pdf(pdf, certificate.number)
    stem = f"certificates/{certificate.year}/{certificate.number}"
    certificate.png_path = stored_files.write(f"{stem}.png", png)
    certificate.pdf_path = stored_files.write(stem + SIGNED_SUFFIX, signed)
    db.session.flush()


def sign_certificate_pdf(
    pdf: bytes, number: str, *, material: signing.SigningMaterial | None = None
) -> bytes:
    """The certificate's PDF signed, the visible signature over the seal."""
    return signing.sign_pdf(
        pdf, reason=f"合格证书 {number}", box=seal_box_points(), material=material
    )


PREVIEW_WIDTH = 720  # the 366 px picture of a 390 px phone screen, at 2x
PREVIEW_QUALITY = 65


def certificate_preview(certificate_id: int, learner_id: int) -> str:
    """A JPEG of the certificate at a phone's size (well under 200 KB) for the page, drawn
    from the stored PNG once and kept beside it; the full PNG and the PDF stay downloads."""
    png_path = certificate_file(certificate_id, learner_id, "png")
    preview = png_path.removesuffix(".png") + "-preview.jpg"
    if not stored_files.exists(preview):
        with Image.open(io.BytesIO(stored_files.read(png_path))) as full:
            height = round(full.height * PREVIEW_WIDTH / full.width)
            small = full.convert("RGB").resize((PREVIEW_WIDTH, height), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=PREVIEW_QUALITY, optimize=True, progressive=True)
        stored_files.write(preview, buffer.getvalue())
    return preview


# --- public verification ------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    number: str
    holder_name: str  # masked
    holder_id_number: str  # masked
    plan_title: str
    year: int
    hours: int
    issued_at: datetime
    status: CertificateStatus
    revoked_at: datetime | None

    @property
    def is_valid(self) -> bool:
        return self.status is CertificateStatus.VALID


def verify(raw_number: str) -> Verification | None:
    """What the public may see of a certificate; ``None`` when no such number exists."""
    number = normalise_number(raw_number)
    if not number or len(number) > 32:
        return None
    certificate = db.session.scalar(select(Certificate).where(Certificate.number == number))
    if certificate is None:
        return None
    return Verification(
        number=certificate.number,
        holder_name=mask_name(certificate.holder_name),
        holder_id_number=mask_id_number(certificate.holder_id_number),
        plan_title=certificate.plan_title,
        year=certificate.year,
        hours=certificate.hours,
        issued_at=certificate.issued_at,
        status=certificate.status,
        revoked_at=certificate.revoked_at,
    )


# --- an uploaded PDF ------------------------------------------------------------------------

_NUMBER_IN_TITLE = re.compile(r"GX\d{4}(?:-[0-9A-Z]{4}){4}")


@dataclass(frozen=True)
class PdfVerification:
    """What the public check says of an uploaded PDF: its signature, then its number."""

    signature: signing.SignatureCheck
    number: str | None  # the certificate number the signed file names
    certificate: Verification | None  # that number in our records

    @property
    def signature_ok(self) -> bool:
        return self.signature.ours_and_unchanged

    @property
    def verdict(self) -> str:
        """valid, revoked, unknown (a number we never issued), no_number, or the signature's
        fault: unsigned, broken, changed_after, foreign."""
        check = self.signature
        if not check.signed:
            return "unsigned"
        if not check.intact:
            return "broken"
        if not check.whole_file:
            return "changed_after"
        if not check.trusted:
            return "foreign"
        if self.number is None:
            return "no_number"
        if self.certificate is None:
            return "unknown"
        return "valid" if self.certificate.is_valid else "revoked"


def verify_pdf(data: bytes) -> PdfVerification:
    """Check an uploaded PDF. Raises ``ValidationError`` for what is not a PDF or too large."""
    limit = current_app.config["VERIFY_PDF_MAX_BYTES"]
    if not data:
        raise ValidationError("pdf", "请选择要验证的证书PDF文件。")
    if len(data) > limit:
        raise ValidationError("pdf", f"文件过大：证书PDF不超过{limit // (1024 * 1024) or 1}MB。")
    try:
        check = signing.check_signature(data)
    except signing.NotAPdf:
        raise ValidationError(
            "pdf", "该文件不是PDF文件，请上传从本平台“我的证书”下载的证书PDF。"
        ) from None
    number = None
    certificate = None
    if check.ours_and_unchanged:
        found = _NUMBER_IN_TITLE.search(check.title)
        if found:
            number = found.group(0)
            certificate = verify(number)
    return PdfVerification(check, number, certificate)


# --- staff: search, revoke, reissue ----------------------------------------------------------


def search_certificates(query: str, *, limit: int = 50) -> list[Certificate]:
    """By number, the holder's ID number or name; the newest first."""
    text = normalise_code(query).replace(" ", "")
    statement = select(Certificate).order_by(Certificate.issued_at.desc()).limit(limit)
    if text:
        statement = statement.where(
            or_(
                Certificate.number == text.upper(),
                Certificate.holder_id_number == text.upper(),
                Certificate.holder_name == text,
            )
        )
    return list(db.session.scalars(statement))


def get_certificate(certificate_id: int) -> Certificate:
    certificate = db.session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound("证书不存在。")
    return certificate


@dataclass(frozen=True)
class StaffCertificate:
    """A certificate in the console, with what staff may do with it."""

    certificate: Certificate

    @property
    def can_revoke(self) -> bool:
        return stands(self.certificate)

    @property
    def can_reissue(self) -> bool:
        """A standing certificate of a learner with a unit or a district to print on it."""
        return stands(self.certificate) and self.holder_workplace is not None

    @property
    def holder_workplace(self) -> str | None:
        learner = db.session.get(Learner, self.certificate.learner_id)
        return workplace_text(learner) if learner is not None else None


def staff_certificate(certificate_id: int) -> StaffCertificate:
    return StaffCertificate(get_certificate(certificate_id))


def _snapshot(certificate: Certificate) -> dict:
    return {
        "number": certificate.number,
        "status": certificate.status.value,
        "holder_name": certificate.holder_name,
        "unit_name": certificate.unit_name,
    }


def _reason(raw: str) -> str:
    reason = clean_text(raw)
    if not reason:
        raise ValidationError("reason", "请填写作废原因。")
    if len(reason) > 200:
        raise ValidationError("reason", "原因不能超过200个字。")
    return reason


def revoke_certificate(certificate_id: int, *, actor: Actor, reason: str) -> Certificate:
    certificate = get_certificate(certificate_id)
    if not stands(certificate):
        raise Conflict("该证书已经作废。")
    reason = _reason(reason)
    before = _snapshot(certificate)
    certificate.status = CertificateStatus.REVOKED
    certificate.revoked_at = utcnow()
    certificate.revoke_reason = reason
    db.session.flush()
    registry.queue_certificate_withdrawal(certificate, f"证书作废：{reason}")
    record_action(
        actor,
        action="certificate.revoke",
        target_type="certificate",
        target_id=certificate.id,
        before=before,
        after={**_snapshot(certificate), "reason": reason},
    )
    return certificate


def revoke_for_refund(enrollment_ids: list[int], *, now: datetime | None = None) -> None:
    """For the refund flow, after it takes these enrollments' plans away: a certificate of a
    plan the learner no longer holds does not stand (its number verifies as revoked)."""
    if not enrollment_ids:
        return
    for certificate in db.session.scalars(
        select(Certificate).where(
            Certificate.enrollment_id.in_(enrollment_ids),
            Certificate.status == CertificateStatus.VALID,
        )
    ):
        before = _snapshot(certificate)
        certificate.status = CertificateStatus.REVOKED
        certificate.revoked_at = now or utcnow()
        certificate.revoke_reason = "订单已退款，学习计划已取消。"
        db.session.flush()
        registry.queue_certificate_withdrawal(certificate, certificate.revoke_reason)
        record_action(
            REFUND_ACTOR,
            action="certificate.revoke",
            target_type="certificate",
            target_id=certificate.id,
            before=before,
            after={**_snapshot(certificate), "reason": certificate.revoke_reason},
        )


def reissue_certificate(
    certificate_id: int, *, actor: Actor, reason: str, corrected_name: str = ""
) -> Certificate:
    """Revoke the certificate and issue a new one from the learner's current data
    (after correcting the name, when staff give one)."""
    old = get_certificate(certificate_id)
    if not stands(old):
        raise Conflict("该证书已经作废；请对该学员当前有效的证书操作。")
    reason = _reason(reason)
    learner = get_row(Learner, old.learner_id, "学员不存在。")
    if clean_text(corrected_name):
        name = parse_name(corrected_name)
        if name != learner.name:
            record_action(
                actor,
                action="learner.correct_name",
                target_type="learner",
                target_id=learner.id,
                before={"name": learner.name},
                after={"name": name},
            )
            learner.name = name
    revoke_certificate(old.id, actor=actor, reason=reason)
    enrollment = get_row(Enrollment, old.enrollment_id, "该证书的学习记录不存在。")
    if workplace_text(learner) is None:
        raise Conflict("该学员没有工作单位或档案所在区县，不能补发证书。")
    new = _new_certificate(learner, enrollment, utcnow())
    new.hours = max(enrollment.earned_hours, old.hours)
    db.session.add(new)
    db.session.flush()
    old.replaced_by_id = new.id
    db.session.flush()
    registry.queue_certificate(new)
    record_action(
        actor,
        action="certificate.reissue",
        target_type="certificate",
        target_id=new.id,
        before=_snapshot(old),
        after=_snapshot(new),
    )
    return new
