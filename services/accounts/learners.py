"""Learner accounts: registration with real-name data, login, 首次登录 reset, password changes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from infra.extensions import db
from infra.transaction import after_commit
from models.accounts import AccountSource, Learner
from services.accounts import passwords, privacy, sessions, sms
from services.accounts.identity import normalise_code, parse_id_number, parse_mobile, parse_name
from services.accounts.org import get_district, get_unit
from services.display import mask_phone
from services.errors import StopValidation, ValidationError
from services.study import rules as study

LOGIN_FAILED = "用户名或密码错误。老用户请点击“首次登录”重置密码。"
RESET_MISMATCH = "姓名、身份证号码和手机号码与平台登记的信息不一致。如无法重置，请联系在线客服。"


@dataclass(frozen=True)
class Registration:
    name: str
    id_number: str
    phone: str
    password: str
    confirm_password: str
    unit_id: int | None = None
    district_id: int | None = None
    # The separate consent to the privacy notice (its own box on the form).
    privacy_consent: bool = False
    client_address: str | None = None


def _collect(errors: list[ValidationError], func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except ValidationError as error:
        errors.append(error)
        return None


def register_learner(data: Registration) -> Learner:
    """Create an account from the registration form; every field is checked at once."""
    errors: list[ValidationError] = []
    name = _collect(errors, parse_name, data.name)
    resident = _collect(errors, parse_id_number, data.id_number)
    phone = _collect(errors, parse_mobile, data.phone)
    _collect(
        errors,
        _check_new_password,
        data.password,
        data.confirm_password,
        id_number=resident.number if resident else None,
        field="password",
    )
    # The unit (and so its district), or only the district that holds the person's file.
    unit_id: int | None = None
    district_id: int | None = None
    if data.unit_id:
        unit = _collect(errors, get_unit, data.unit_id)
        if unit is not None:
            unit_id, district_id = unit.id, unit.district_id
    elif data.district_id:
        district = _collect(errors, get_district, data.district_id)
        if district is not None:
            district_id = district.id
    else:
        errors.append(
            ValidationError("unit_id", "请选择工作单位；找不到单位时请选择档案所在区县。")
        )
    if resident and find_by_id_number(resident.number):
        errors.append(
            ValidationError(
                "id_number", "该身份证号码已注册，请直接登录；忘记密码可通过“首次登录”重置。"
            )
        )
    if phone and find_by_phone(phone):
        errors.append(ValidationError("phone", "该手机号码已被其他账号使用。"))
    if not data.privacy_consent:
        errors.append(ValidationError("privacy_consent", privacy.CONSENT_REQUIRED))
    if errors:
        raise StopValidation(errors)

    learner = Learner(
        name=name,
        id_number=resident.number,
        phone=phone,
        gender=resident.gender,
        birth_date=resident.birth_date,
        unit_id=unit_id,
        district_id=district_id,
        password_hash=passwords.hash_password(data.password),
        must_change_password=False,
        source=AccountSource.SELF,
    )
    try:
        with db.session.begin_nested():
            db.session.add(learner)
            db.session.flush()
    except IntegrityError:
        # Someone registered the same ID number or phone a moment ago.
        raise StopValidation(
            [ValidationError("id_number", "该身份证号码或手机号码已注册，请直接登录。")]
        ) from None
    privacy.record_consent(learner.id, privacy.REGISTER, given=True, ip=data.client_address)
    return learner


def find_by_id_number(id_number: str) -> Learner | None:
    return db.session.scalar(select(Learner).where(Learner.id_number == id_number))


def find_by_phone(phone: str) -> Learner | None:
    return db.session.scalar(select(Learner).where(Learner.phone == phone))


def normalise_account(raw: str | None) -> str:
    """The login name as typed: an ID number (x → X) or a mobile number."""
    return normalise_code(raw).replace(" ", "").upper()


def find_by_account(raw: str | None) -> Learner | None:
    account = normalise_account(raw)
    if not account:
        return None
    return db.session.scalar(
        select(Learner).where(or_(Learner.id_number == account, Learner.phone == account))
    )


def limit_key(raw: str | None) -> str:
    """What the per-account login limit counts against: the account, whichever of its names
    (ID number or phone) was typed; a name of no account counts by a digest of itself, so
    that neither the limiter's keys nor its log lines hold a phone or an ID number."""
    learner = find_by_account(raw)
    if learner is not None:
        return f"learner:{learner.id}"
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, normalise_account(raw).encode(), hashlib.sha256).hexdigest()
    return "unknown:" + digest[:20]


def authenticate(account: str, password: str) -> Learner:
    learner = find_by_account(account)
    if learner is None:
        passwords.spend_dummy_check(password)
        raise ValidationError(None, LOGIN_FAILED)
    if not passwords.verify_password(
        learner.password_hash, password, initial=initial_password(learner)
    ):
        raise ValidationError(None, LOGIN_FAILED)
    return learner


def initial_password(learner: Learner) -> str | None:
    """Roster accounts start with the last 6 characters of the ID number."""
    return learner.id_number[-6:] if learner.password_hash is None else None


@dataclass(frozen=True)
class FirstLogin:
    """What choosing a new password also asks of this account: at a roster account's first
    login, the separate consent to the privacy notice, and (when a text-message provider is
    configured) a code sent to the phone on the roster, so that the ID number's last 6
    characters alone do not open the account."""

    needs_consent: bool
    needs_code: bool
    masked_phone: str


def first_login_steps(learner: Learner) -> FirstLogin:
    return FirstLogin(
        needs_consent=learner.must_change_password and not privacy.has_current_consent(learner.id),
        needs_code=learner.password_hash is None
        and bool(learner.phone)
        and sms.provider_configured(),
        masked_phone=mask_phone(learner.phone),
    )


FIRST_LOGIN_CODE = "first-login"


def send_first_login_code(learner_id: int, *, client_address: str | None = None) -> Learner:
    learner = db.session.get(Learner, learner_id)
    if learner is None:
        raise ValidationError(None, "账号不存在。")
    if not first_login_steps(learner).needs_code or learner.phone is None:
        raise ValidationError("code", "该账号无需短信验证码。")
    sms.send_verification_code(
        learner.phone, FIRST_LOGIN_CODE, str(learner.id), client_address=client_address
    )
    return learner


def change_password(
    learner_id: int,
    current: str,
    new: str,
    confirm: str,
    *,
    privacy_consent: bool = False,
    code: str = "",
    client_address: str | None = None,
) -> Learner:
    learner = db.session.get(Learner, learner_id)
    if learner is None:
        raise ValidationError(None, "账号不存在。")
    steps = first_login_steps(learner)
    if not passwords.verify_password(
        learner.password_hash, current, initial=initial_password(learner)
    ):
        raise ValidationError("current_password", "当前密码不正确。")
    _check_new_password(new, confirm, id_number=learner.id_number)
    if steps.needs_consent and not privacy_consent:
        raise ValidationError("privacy_consent", privacy.CONSENT_REQUIRED)
    if steps.needs_code:
        if not code.strip():
            raise ValidationError("code", "请填写短信验证码（点击“获取验证码”发送到您的手机）。")
        # Checked after everything else: a code works once.
        sms.check_verification_code(FIRST_LOGIN_CODE, str(learner.id), code)
    if steps.needs_consent:
        privacy.record_consent(learner.id, privacy.FIRST_LOGIN, given=True, ip=client_address)
    _set_password(learner, new)
    return learner


def _check_new_password(
    new: str, confirm: str, *, id_number: str | None, field: str = "new_password"
) -> None:
    passwords.check_policy(new, id_number=id_number, field=field)
    if new != confirm:
        raise ValidationError("confirm_password", "两次输入的密码不一致。")


def _set_password(learner: Learner, new: str) -> None:
    learner.password_hash = passwords.hash_password(new)
    learner.must_change_password = False
    db.session.flush()
    # Every login ends with the old password (the page that changed it opens a new one),
    # and so does playback.
    after_commit(sessions.close_all_logins, sessions.LEARNER, learner.id)
    after_commit(study.end_learner_playback, learner.id)


def start_password_reset(
    name: str, id_number: str, phone: str, *, client_address: str | None = None
) -> Learner:
    """首次登录, step 1: prove name + ID number + phone; a code goes to that phone."""
    errors: list[ValidationError] = []
    clean_name = _collect(errors, parse_name, name)
    resident = _collect(errors, parse_id_number, id_number)
    clean_phone = _collect(errors, parse_mobile, phone)
    if errors:
        raise StopValidation(errors)
    learner = find_by_id_number(resident.number)
    if learner is None or learner.name != clean_name or learner.phone != clean_phone:
        raise ValidationError(None, RESET_MISMATCH)
    sms.send_verification_code(clean_phone, "reset", str(learner.id), client_address=client_address)
    return learner


def resend_password_reset_code(learner_id: int, *, client_address: str | None = None) -> Learner:
    """首次登录, step 2 again: another code to the phone proven in step 1."""
    learner = db.session.get(Learner, learner_id)
    if learner is None or not learner.phone:
        raise ValidationError(None, "请重新验证身份。")
    sms.send_verification_code(
        learner.phone, "reset", str(learner.id), client_address=client_address
    )
    return learner


def finish_password_reset(learner_id: int, code: str, new: str, confirm: str) -> Learner:
    """首次登录, step 2: the code from the text message and the new password."""
    learner = db.session.get(Learner, learner_id)
    if learner is None:
        raise ValidationError(None, "请重新验证身份。")
    # Checked before the code, which works only once.
    _check_new_password(new, confirm, id_number=learner.id_number)
    sms.check_verification_code("reset", str(learner.id), code)
    _set_password(learner, new)
    return learner


def session_tag(learner: Learner) -> str:
    """Changes whenever the password does, which ends sessions opened with the old one."""
    key = current_app.config["SECRET_KEY"].encode()
    material = (learner.password_hash or "initial:" + learner.id_number).encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:16]


PAGE_SIZE = 30


def search_learners(query: str, *, unit_id: int | None = None, page: int = 1):
    """Console search: a whole ID number or phone, masked or not, the last digits of either,
    or a name."""
    text = normalise_account(query)
    statement = (
        select(Learner)
        .options(joinedload(Learner.unit), joinedload(Learner.district))  # shown on each row
        .order_by(Learner.id.desc())
    )
    if unit_id is not None:
        statement = statement.where(Learner.unit_id == unit_id)
    if "*" in text:
        # Copied from a page that masks it (500***********1015, 138****0001): what is shown
        # on either side of the stars, at the same length.
        shown = text.split("*", 1)[0], text.rsplit("*", 1)[-1]
        statement = statement.where(
            or_(
                _masked_match(Learner.id_number, text, *shown),
                _masked_match(Learner.phone, text, *shown),
            )
        )
    elif len(text) == 18:
        statement = statement.where(Learner.id_number == text)
    elif len(text) == 11 and text.isdigit():
        statement = statement.where(Learner.phone == text)
    elif len(text) >= 4 and text[:-1].isdigit():
        statement = statement.where(
            or_(
                Learner.id_number.endswith(text, autoescape=True),
                Learner.phone.endswith(text, autoescape=True),
            )
        )
    elif text:
        statement = statement.where(Learner.name.contains(text, autoescape=True))
    return db.paginate(statement, page=page, per_page=PAGE_SIZE, error_out=False)


def _masked_match(column, masked: str, head: str, tail: str):
    return and_(
        func.length(column) == len(masked),
        column.startswith(head, autoescape=True),
        column.endswith(tail, autoescape=True),
    )
