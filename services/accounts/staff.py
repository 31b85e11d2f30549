"""Staff accounts of the console and unit admins."""

from __future__ import annotations

import re

from sqlalchemy import select

from infra.extensions import db
from infra.transaction import after_commit
from models.base import utcnow
from models.org import Unit
from models.staff import StaffRole, StaffUser
from services.accounts import passwords, sessions
from services.accounts.identity import clean_text, normalise_code
from services.audit import Actor, record_action
from services.errors import Conflict, NotFound, PermissionDenied, ValidationError

LOGIN_FAILED = "用户名或密码错误。"
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,50}$")


def create_staff(
    *,
    username: str,
    name: str,
    password: str,
    role: StaffRole,
    unit_id: int | None = None,
    unit_code: str | None = None,
    actor: Actor,
) -> StaffUser:
    """``unit_id`` or ``unit_code`` names the unit of a unit admin."""
    username = normalise_code(username)
    if not _USERNAME.match(username):
        raise ValidationError("username", "用户名为3至50位字母、数字、下划线、点或横线。")
    if db.session.scalar(select(StaffUser).where(StaffUser.username == username)):
        raise ValidationError("username", "该用户名已存在。")
    name = clean_text(name)
    if not name:
        raise ValidationError("name", "请填写姓名。")
    if unit_code:
        unit = db.session.scalar(
            select(Unit).where(Unit.code == normalise_code(unit_code).upper().removeprefix("UNIT:"))
        )
        if unit is None:
            raise ValidationError("unit_code", "找不到该单位代码，请在“单位与区县”中查看。")
        unit_id = unit.id
    elif unit_id is not None and db.session.get(Unit, unit_id) is None:
        raise ValidationError(
            "unit_code", f"找不到该单位（编号 {unit_id}），请在“单位与区县”中查看。"
        )
    if role is StaffRole.UNIT_ADMIN and unit_id is None:
        raise ValidationError("unit_code", "单位管理员必须指定所属单位。")
    if role is not StaffRole.UNIT_ADMIN:
        unit_id = None
    passwords.check_policy(password)
    staff = StaffUser(
        username=username,
        name=name,
        password_hash=passwords.hash_password(password),
        role=role,
        unit_id=unit_id,
    )
    db.session.add(staff)
    db.session.flush()
    record_action(
        actor,
        action="staff.create",
        target_type="staff_user",
        target_id=staff.id,
        after={"username": username, "role": role.value, "unit_id": unit_id},
    )
    return staff


def authenticate_staff(username: str, password: str) -> StaffUser:
    staff = db.session.scalar(
        select(StaffUser).where(StaffUser.username == normalise_code(username))
    )
    if staff is None or not staff.is_active:
        passwords.spend_dummy_check(password)
        raise ValidationError(None, LOGIN_FAILED)
    if not passwords.verify_password(staff.password_hash, password):
        raise ValidationError(None, LOGIN_FAILED)
    staff.last_login_at = utcnow()
    db.session.flush()
    return staff


def unit_scope(staff: StaffUser) -> int | None:
    """The one unit whose people and figures ``staff`` may see; None: every unit."""
    if staff.role is not StaffRole.UNIT_ADMIN:
        return None
    if staff.unit_id is None:
        # A unit admin is limited to a unit: without one they see nothing, never everything.
        raise PermissionDenied("该单位管理员账号没有所属单位，请联系管理员设置后再使用。")
    return staff.unit_id


def list_staff() -> list[StaffUser]:
    return list(db.session.scalars(select(StaffUser).order_by(StaffUser.role, StaffUser.username)))


def _get(staff_id: int) -> StaffUser:
    staff = db.session.get(StaffUser, staff_id)
    if staff is None:
        raise NotFound("工作人员账号不存在。")
    return staff


def set_active(staff_id: int, active: bool, *, actor: Actor) -> StaffUser:
    staff = _get(staff_id)
    if staff.id == actor.staff_id and not active:
        raise Conflict("不能停用自己的账号。")
    before = {"is_active": staff.is_active}
    staff.is_active = active
    db.session.flush()
    if not active:
        # Removed from the console now, in every browser it is open in.
        after_commit(sessions.close_all_logins, sessions.STAFF, staff.id)
    record_action(
        actor,
        action="staff.activate" if active else "staff.deactivate",
        target_type="staff_user",
        target_id=staff.id,
        before=before,
        after={"is_active": active},
    )
    return staff


def reset_password(staff_id: int, new_password: str, *, actor: Actor) -> StaffUser:
    staff = _get(staff_id)
    passwords.check_policy(new_password)
    staff.password_hash = passwords.hash_password(new_password)
    db.session.flush()
    after_commit(sessions.close_all_logins, sessions.STAFF, staff.id)
    record_action(
        actor,
        action="staff.reset_password",
        target_type="staff_user",
        target_id=staff.id,
    )
    return staff
