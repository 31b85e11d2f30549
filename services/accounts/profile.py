"""个人信息: a learner changes their own phone (proven by a code sent to the new number) and
unit. The rules are the console's: a phone belongs to one account only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from models.accounts import Learner
from services.accounts import sms
from services.accounts.identity import parse_mobile
from services.accounts.org import get_district, get_unit
from services.errors import ValidationError

PHONE_CHANGE_CODE = "phone-change"


def _learner(learner_id: int) -> Learner:
    learner = db.session.get(Learner, learner_id)
    if learner is None:
        raise ValidationError(None, "账号不存在。")
    return learner


def _new_phone(learner: Learner, raw_phone: str) -> str:
    phone = parse_mobile(raw_phone)
    if phone == learner.phone:
        raise ValidationError("phone", "新手机号码与原号码相同。")
    taken = db.session.scalar(
        select(Learner.id).where(Learner.phone == phone, Learner.id != learner.id)
    )
    if taken is not None:
        raise ValidationError("phone", "该手机号码已被其他账号使用。")
    return phone


def _subject(learner: Learner, phone: str) -> str:
    # The code proves this number for this account: one sent to another number does not fit.
    return f"{learner.id}:{phone}"


def send_phone_change_code(
    learner_id: int, raw_phone: str, *, client_address: str | None = None
) -> str:
    """Sends a code to the new number (the sms service's per-minute and daily limits apply);
    returns the number, normalised."""
    learner = _learner(learner_id)
    phone = _new_phone(learner, raw_phone)
    sms.send_verification_code(
        phone, PHONE_CHANGE_CODE, _subject(learner, phone), client_address=client_address
    )
    return phone


def change_own_phone(learner_id: int, raw_phone: str, code: str) -> Learner:
    learner = _learner(learner_id)
    phone = _new_phone(learner, raw_phone)
    if not code.strip():
        raise ValidationError("code", "请填写发送到新手机号码的短信验证码。")
    sms.check_verification_code(PHONE_CHANGE_CODE, _subject(learner, phone), code)
    try:
        with db.session.begin_nested():
            learner.phone = phone
            db.session.flush()
    except IntegrityError:  # another account took the number at the same moment
        raise ValidationError("phone", "该手机号码已被其他账号使用。") from None
    return learner


def change_own_unit(learner_id: int, unit_id: int | None, district_id: int | None) -> Learner:
    """The unit (and so its district), or only the district that holds the person's file."""
    learner = _learner(learner_id)
    if unit_id:
        unit = get_unit(unit_id)
        learner.unit_id, learner.district_id = unit.id, unit.district_id
    elif district_id:
        learner.unit_id, learner.district_id = None, get_district(district_id).id
    else:
        raise ValidationError("unit_id", "请选择工作单位；找不到单位时请选择档案所在区县。")
    db.session.flush()
    return learner
