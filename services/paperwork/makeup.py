"""Make-up study (补学) of 2011-2021 after a payment made on another site.

The learner proves the payment with the voucher form (缴费凭证表: order number, payer,
payment time, platform and a screenshot) or, without a voucher, the commitment letter
(缴费承诺书 of the seed's 附件3: reason, typed name as signature, agreement). Name, phone
and ID number come from the account. Staff review within 3 working days, oldest first;
approval opens the year's plan free (an enrollment that records the application), a
rejection gives the reason; the learner gets a template message either way. A learner has at
most one open application per year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from models.accounts import Learner
from models.base import utcnow
from models.catalog import Plan, PlanKind
from models.enrollments import Enrollment, EnrollmentSource, EnrollmentStatus
from models.makeup import MakeupApplication, MakeupKind, ReviewStatus
from services import stored_files
from services.accounts.identity import clean_text, normalise_code
from services.audit import Actor, record_action
from services.display import LOCAL_TZ, local_time
from services.errors import Conflict, NotFound, PermissionDenied, StopValidation, ValidationError
from services.paperwork.screenshots import ScreenshotRejected, clean_screenshot
from services.paperwork.workdays import workday_deadline, workdays_left
from services.rows import get_row
from services.wechat import notify

FIRST_YEAR, LAST_YEAR = 2011, 2021
REVIEW_WORKDAYS = 3

# The promise of the commitment letter (缴费承诺书, 附件3), as the learner signs it.
COMMITMENT_PROMISES = (
    "本人在参与专业技术人员继续教育公需科目补学过程中提供的相关资料，本人均予以认可，"
    "自愿提供。本人所提供的缴费信息真实有效，如系伪造，本人愿依法承担相应法律责任。",
    "本人知晓并理解提供不实信息对个人诚信记录的风险，如给专业技术人员继续教育公需科目"
    "培训主管单位、承训单位造成损失的，愿意承担赔偿及相应的法律责任。",
)


@dataclass(frozen=True)
class Voucher:
    """缴费凭证表, as typed; the screenshot as uploaded."""

    order_no: str
    payer: str
    paid_at: str  # "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM"
    platform: str
    screenshot: bytes


@dataclass(frozen=True)
class Commitment:
    """缴费承诺书, as typed."""

    paid_on: str  # "YYYY-MM-DD"
    reason: str
    signature: str
    agreed: bool


# --- plans open to make-up ------------------------------------------------------------------


def makeup_plans() -> list[Plan]:
    return list(
        db.session.scalars(
            select(Plan)
            .where(
                Plan.kind == PlanKind.MAKEUP,
                Plan.is_published.is_(True),
                Plan.year.between(FIRST_YEAR, LAST_YEAR),
            )
            .order_by(Plan.year.desc())
        )
    )


def makeup_plan(plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if (
        plan is None
        or plan.kind is not PlanKind.MAKEUP
        or not plan.is_published
        or not FIRST_YEAR <= plan.year <= LAST_YEAR
    ):
        raise NotFound("没有该年度的补学计划。")
    return plan


CLOSED = "该年度补学已截止"


def study_closed(plan: Plan, now: datetime | None = None) -> bool:
    """The plan's study window has ended: opening it now would give a plan nobody can study."""
    return (now or utcnow()) >= plan.study_ends_at


def application_refusal(learner_id: int, plan: Plan, *, now: datetime | None = None) -> str | None:
    """Why the learner cannot apply for this year now, or ``None``."""
    return _refusal(
        plan,
        opened=plan.id in _opened_plan_ids(learner_id, [plan.id]),
        pending=_pending(learner_id, plan.year) is not None,
        now=now or utcnow(),
    )


def _refusal(plan: Plan, *, opened: bool, pending: bool, now: datetime) -> str | None:
    if study_closed(plan, now):
        return f"{CLOSED}（学习截止时间：{local_time(plan.study_ends_at)}）。"
    if opened:
        return f"您已开通{plan.year}年度的学习计划，可以直接学习。"
    if pending:
        return f"您的{plan.year}年度补学申请正在审核中，请耐心等待审核结果。"
    return None


def _opened_plan_ids(learner_id: int, plan_ids: list[int]) -> set[int]:
    """Those of the plans the learner may study now (bought, or opened by a review)."""
    return set(
        db.session.scalars(
            select(Enrollment.plan_id).where(
                Enrollment.learner_id == learner_id,
                Enrollment.plan_id.in_(plan_ids),
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
        )
    )


def _pending(learner_id: int, year: int) -> MakeupApplication | None:
    return db.session.scalar(
        select(MakeupApplication).where(
            MakeupApplication.learner_id == learner_id,
            MakeupApplication.year == year,
            MakeupApplication.status == ReviewStatus.PENDING,
        )
    )


@dataclass(frozen=True)
class YearOverview:
    """One make-up year on the learner's page: the latest application and what is possible."""

    plan: Plan
    latest: MakeupApplication | None
    refusal: str | None
    opened: bool = False  # the learner may study the year now (bought or approved)
    closed: bool = False

    @property
    def can_apply(self) -> bool:
        return self.refusal is None


def learner_overview(learner_id: int, *, now: datetime | None = None) -> list[YearOverview]:
    now = now or utcnow()
    plans = makeup_plans()
    applications = learner_applications(learner_id)
    opened = _opened_plan_ids(learner_id, [plan.id for plan in plans])
    pending_years = {app.year for app in applications if app.status is ReviewStatus.PENDING}
    latest: dict[int, MakeupApplication] = {}
    for application in applications:
        latest.setdefault(application.plan_id, application)
    return [
        YearOverview(
            plan,
            latest.get(plan.id),
            _refusal(plan, opened=plan.id in opened, pending=plan.year in pending_years, now=now),
            opened=plan.id in opened,
            closed=study_closed(plan, now),
        )
        for plan in plans
    ]


# --- submitting -------------------------------------------------------------------------------


def _refuse_when_closed(plan: Plan, now: datetime) -> None:
    """Nothing of a closed year is read or stored, not even the screenshot."""
    if study_closed(plan, now):
        raise Conflict(f"{CLOSED}（学习截止时间：{local_time(plan.study_ends_at)}）。")


def _text(errors: list, field: str, raw: str, label: str, limit: int) -> str:
    value = clean_text(raw)
    if not value:
        errors.append(ValidationError(field, f"请填写{label}。"))
    elif len(value) > limit:
        errors.append(ValidationError(field, f"{label}不能超过{limit}个字。"))
    return value


def _moment(errors: list, field: str, raw: str, label: str, now: datetime) -> datetime | None:
    text = normalise_code(raw).replace(" ", "T")
    if not text:
        errors.append(ValidationError(field, f"请填写{label}。"))
        return None
    try:
        if "T" in text:
            moment = datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ)
        else:
            moment = datetime.combine(date.fromisoformat(text), time(0), tzinfo=LOCAL_TZ)
    except ValueError:
        errors.append(ValidationError(field, f"{label}格式不正确，请按“2019-05-20”填写。"))
        return None
    if moment > now or moment.year < FIRST_YEAR:
        errors.append(ValidationError(field, f"{label}应在{FIRST_YEAR}年之后、今天之前。"))
        return None
    return moment


def submit_voucher(
    learner_id: int, plan_id: int, voucher: Voucher, *, now: datetime | None = None
) -> MakeupApplication:
    now = now or utcnow()
    plan = makeup_plan(plan_id)
    _refuse_when_closed(plan, now)
    errors: list[ValidationError] = []
    order_no = _text(errors, "order_no", voucher.order_no, "订单编号", 64)
    payer = _text(errors, "payer", voucher.payer, "付款人", 50)
    paid_at = _moment(errors, "paid_at", voucher.paid_at, "缴费时间", now)
    platform = _text(errors, "platform", voucher.platform, "缴费平台", 60)
    screenshot = b""
    try:
        screenshot = clean_screenshot(voucher.screenshot)
    except ScreenshotRejected as rejected:
        errors.append(ValidationError("screenshot", str(rejected)))
    if errors:
        raise StopValidation(errors)
    refusal = application_refusal(learner_id, plan, now=now)
    if refusal:
        raise Conflict(refusal)
    application = MakeupApplication(
        learner_id=learner_id,
        plan_id=plan.id,
        year=plan.year,
        kind=MakeupKind.VOUCHER,
        order_no=order_no,
        payer=payer,
        paid_at=paid_at,
        platform=platform,
        screenshot_path=stored_files.write_new("makeup", ".jpg", screenshot),
    )
    return _file(application, now)


def submit_commitment(
    learner_id: int, plan_id: int, letter: Commitment, *, now: datetime | None = None
) -> MakeupApplication:
    now = now or utcnow()
    plan = makeup_plan(plan_id)
    _refuse_when_closed(plan, now)
    learner = get_row(Learner, learner_id, "学员不存在。")
    errors: list[ValidationError] = []
    paid_at = _moment(errors, "paid_on", letter.paid_on, "缴费日期", now)
    reason = _text(errors, "reason", letter.reason, "无法提供缴费凭证的原因", 500)
    signature = clean_text(letter.signature).replace(" ", "")
    if signature != learner.name:
        errors.append(
            ValidationError("signature", f"请输入您的姓名“{learner.name}”作为签名（承诺人）。")
        )
    if not letter.agreed:
        errors.append(ValidationError("agreed", "请阅读承诺内容并勾选“本人已阅读并同意以上承诺”。"))
    if errors:
        raise StopValidation(errors)
    refusal = application_refusal(learner_id, plan, now=now)
    if refusal:
        raise Conflict(refusal)
    application = MakeupApplication(
        learner_id=learner_id,
        plan_id=plan.id,
        year=plan.year,
        kind=MakeupKind.COMMITMENT,
        paid_at=paid_at,
        reason=reason,
        signature=signature,
    )
    return _file(application, now)


def _file(application: MakeupApplication, now: datetime) -> MakeupApplication:
    application.status = ReviewStatus.PENDING
    application.created_at = now
    application.due_at = workday_deadline(now, REVIEW_WORKDAYS)
    try:
        with db.session.begin_nested():
            db.session.add(application)
            db.session.flush()
    except IntegrityError:
        if application.screenshot_path:
            stored_files.resolve(application.screenshot_path).unlink(missing_ok=True)
        raise Conflict(
            f"您的{application.year}年度补学申请正在审核中，请耐心等待审核结果。"
        ) from None
    return application


# --- what learners and staff see ------------------------------------------------------------


def learner_applications(learner_id: int) -> list[MakeupApplication]:
    return list(
        db.session.scalars(
            select(MakeupApplication)
            .where(MakeupApplication.learner_id == learner_id)
            .order_by(MakeupApplication.id.desc())
        )
    )


def get_application(application_id: int) -> MakeupApplication:
    application = db.session.get(MakeupApplication, application_id)
    if application is None:
        raise NotFound("补学申请不存在。")
    return application


def owned_application(application_id: int, learner_id: int) -> MakeupApplication:
    application = get_application(application_id)
    if application.learner_id != learner_id:
        raise PermissionDenied("只能查看自己的补学申请。")
    return application


def screenshot_path(application: MakeupApplication) -> str:
    if not stored_files.exists(application.screenshot_path):
        raise NotFound("该申请没有缴费截图。")
    return application.screenshot_path


@dataclass(frozen=True)
class QueueItem:
    application: MakeupApplication
    learner: Learner
    workdays_left: int  # negative when late

    @property
    def overdue(self) -> bool:
        return self.workdays_left < 0

    @property
    def deadline_text(self) -> str:
        return _deadline_text(self.workdays_left)


def review_queue(*, now: datetime | None = None, limit: int = 200) -> list[QueueItem]:
    """Pending applications, oldest first, with the working days left to the deadline."""
    now = now or utcnow()
    rows = db.session.execute(
        select(MakeupApplication, Learner)
        .join(Learner, Learner.id == MakeupApplication.learner_id)
        .where(MakeupApplication.status == ReviewStatus.PENDING)
        .order_by(MakeupApplication.created_at, MakeupApplication.id)
        .limit(limit)
    ).all()
    return [QueueItem(app, learner, workdays_left(app.due_at, now)) for app, learner in rows]


def review_deadline_text(application: MakeupApplication, now: datetime | None = None) -> str:
    return _deadline_text(workdays_left(application.due_at, now or utcnow()))


def _deadline_text(left: int) -> str:
    if left < 0:
        return f"已超期{-left}个工作日"
    if left == 0:
        return "今天到期"
    return f"剩余{left}个工作日"


# --- reviewing ----------------------------------------------------------------------------------


def awaits_review(application: MakeupApplication) -> bool:
    """Not reviewed yet: staff may approve or reject it (once)."""
    return application.status is ReviewStatus.PENDING


@dataclass(frozen=True)
class StaffApplication:
    """An application in the console, with what staff may do with it."""

    application: MakeupApplication

    @property
    def can_review(self) -> bool:
        return awaits_review(self.application)

    @property
    def is_voucher(self) -> bool:
        return self.application.kind is MakeupKind.VOUCHER


def staff_application(application_id: int) -> StaffApplication:
    return StaffApplication(get_application(application_id))


def _pending_for_review(application_id: int) -> MakeupApplication:
    application = db.session.scalar(
        select(MakeupApplication).where(MakeupApplication.id == application_id).with_for_update()
    )
    if application is None:
        raise NotFound("补学申请不存在。")
    if not awaits_review(application):
        raise Conflict(f"该申请已经审核（{application.status.label}）。")
    return application


def approve(application_id: int, *, actor: Actor, now: datetime | None = None) -> Enrollment:
    """Open the year's plan free: an enrollment that records this application."""
    now = now or utcnow()
    application = _pending_for_review(application_id)
    plan = get_row(Plan, application.plan_id, "学习计划不存在。")
    if study_closed(plan, now):
        raise Conflict(
            f"{CLOSED}（{plan.year}年度学习截止时间：{local_time(plan.study_ends_at)}），"
            "通过后学员也无法学习；请驳回并说明原因。"
        )
    enrollment = db.session.scalar(
        select(Enrollment).where(
            Enrollment.learner_id == application.learner_id,
            Enrollment.plan_id == application.plan_id,
        )
    )
    if enrollment is not None and enrollment.status is EnrollmentStatus.ACTIVE:
        raise Conflict("该学员已开通该年度计划（已购买），无需审核通过；请驳回并说明原因。")
    if enrollment is None:
        enrollment = Enrollment(learner_id=application.learner_id, plan_id=application.plan_id)
        db.session.add(enrollment)
    # A plan refunded earlier keeps its progress and opens again, now through the review.
    enrollment.status = EnrollmentStatus.ACTIVE
    enrollment.source = EnrollmentSource.MAKEUP_REVIEW
    enrollment.order_id = None
    enrollment.makeup_application_id = application.id
    enrollment.revoked_at = None
    _decide(application, ReviewStatus.APPROVED, "", actor, now)
    db.session.flush()
    return enrollment


def reject(
    application_id: int, *, actor: Actor, reason: str, now: datetime | None = None
) -> MakeupApplication:
    application = _pending_for_review(application_id)
    reason = clean_text(reason)
    if not reason:
        raise ValidationError("reason", "请填写驳回原因，学员将据此修改后重新提交。")
    if len(reason) > 200:
        raise ValidationError("reason", "驳回原因不能超过200个字。")
    _decide(application, ReviewStatus.REJECTED, reason, actor, now or utcnow())
    return application


def _decide(
    application: MakeupApplication,
    status: ReviewStatus,
    reason: str,
    actor: Actor,
    now: datetime,
) -> None:
    application.status = status
    application.reject_reason = reason
    application.reviewer_id = actor.staff_id
    application.reviewed_at = now
    db.session.flush()
    record_action(
        actor,
        action=f"makeup.{'approve' if status is ReviewStatus.APPROVED else 'reject'}",
        target_type="makeup_application",
        target_id=application.id,
        before={"status": ReviewStatus.PENDING.value},
        after={"status": status.value, "reason": reason},
    )
    notify.review_result(
        learner_id=application.learner_id,
        application_id=application.id,
        year=application.year,
        approved=status is ReviewStatus.APPROVED,
        reason=reason,
        path="/h5/makeup",
    )
