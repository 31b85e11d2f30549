"""The base class of every model, and shared column types: aware UTC timestamps, string-valued
enums, JSON that is JSONB on PostgreSQL."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import JSON, DateTime, Table, TypeDecorator
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB

from infra.extensions import Base, db

if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as FlaskModel

    class Model(FlaskModel, Base):
        """``db.Model`` as a type checker sees it: a type checker takes no attribute of an
        object as a base class, and this is what Flask-SQLAlchemy makes of ``Base``."""

        # SQLAlchemy types it as any FROM clause; every model here maps a table of its own.
        __table__: ClassVar[Table]

else:
    Model = db.Model

# The largest id an INTEGER primary key holds (PostgreSQL's integer is 32-bit signed): a bigger
# number names no row, and asking the database for it would fail instead of finding nothing.
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def enum_type(enum_cls: type[enum.Enum], length: int = 20) -> SAEnum:
    """Stores the enum's value as a short string (no native type to migrate)."""
    return SAEnum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
