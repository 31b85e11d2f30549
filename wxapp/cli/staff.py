import click
from flask.cli import AppGroup

from infra.transaction import commit
from models.staff import StaffRole
from services.accounts import staff as staff_service
from services.audit import Actor
from services.errors import ServiceError, StopValidation

group = AppGroup("staff", help="Staff accounts of the console.")


@group.command("create")
@click.option("--username", prompt="用户名", help="login name")
@click.option("--name", prompt="姓名", help="the person's name")
@click.option(
    "--role",
    type=click.Choice([role.value for role in StaffRole]),
    default=StaffRole.ADMIN.value,
    show_default=True,
)
@click.option("--unit-id", type=int, default=None, help="unit of a unit admin")
@click.password_option("--password", prompt="密码", help="8-32 characters, letters and digits")
def create(username: str, name: str, role: str, unit_id: int | None, password: str) -> None:
    """Create a staff account (the first admin, for example)."""
    try:
        staff = staff_service.create_staff(
            username=username,
            name=name,
            password=password,
            role=StaffRole(role),
            unit_id=unit_id,
            actor=Actor.system("cli:staff create"),
        )
    except (ServiceError, StopValidation) as error:
        raise click.ClickException(error.message) from None
    commit()
    click.echo(f"created staff account {staff.username} ({staff.role.label})")
