"""One row by its id, refused in the reader's words when there is none."""

from __future__ import annotations

from typing import TypeVar

from infra.extensions import db
from models.base import Model
from services.errors import NotFound

M = TypeVar("M", bound=Model)


def get_row(model: type[M], row_id: int | None, missing: str) -> M:
    """The ``model`` row with this id; ``missing`` is the message of the NotFound otherwise
    (also when there is no id at all)."""
    row = None if row_id is None else db.session.get(model, row_id)
    if row is None:
        raise NotFound(missing)
    return row
