"""flask --app wsgi staff create: the first admin, and unit admins tied to a unit."""

from sqlalchemy import select

from infra.extensions import db
from models.staff import AuditLog, StaffRole, StaffUser
from tests import factories


def create(runner, *extra):
    return runner.invoke(
        args=["staff", "create", "--username", "chief", "--name", "管理员", *extra],
        input="Chief2022x\nChief2022x\n",
    )


def test_the_first_admin_is_created_and_audited(runner):
    result = create(runner)
    assert result.exit_code == 0, result.output
    chief = db.session.scalar(select(StaffUser).where(StaffUser.username == "chief"))
    assert chief.role is StaffRole.ADMIN
    entry = db.session.scalar(select(AuditLog).where(AuditLog.target_id == str(chief.id)))
    assert entry.action == "staff.create" and entry.actor == "cli:staff create"


def test_a_unit_admin_needs_a_unit_that_exists(runner):
    unit = factories.unit()
    result = create(runner, "--role", "unit_admin", "--unit-id", str(unit.id + 1000))
    assert result.exit_code == 1
    assert "找不到该单位" in result.output
    assert db.session.scalar(select(StaffUser).where(StaffUser.username == "chief")) is None
    result = create(runner, "--role", "unit_admin", "--unit-id", str(unit.id))
    assert result.exit_code == 0, result.output
    chief = db.session.scalar(select(StaffUser).where(StaffUser.username == "chief"))
    assert chief.unit_id == unit.id
