"""Form parsing shared by the surfaces. Forms only read input; services judge it."""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from wtforms import StringField

from services.errors import ServiceError, StopValidation


def apply_errors(form: FlaskForm, error: ServiceError) -> None:
    """Put a service's refusal next to the fields it names (or at the top of the form)."""
    errors = error.errors if isinstance(error, StopValidation) else [error]
    for item in errors:
        name = getattr(item, "field", None)
        field = getattr(form, name, None) if name else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, item.message]
        else:
            form.form_errors.append(item.message)


def field_text(field: StringField) -> str:
    """A text field's value in a validated form (``None`` only when it was never sent)."""
    return field.data or ""


# Far past any real list: keeps the database's OFFSET in range whatever is typed in the URL.
MAX_PAGE = 10_000


def page_arg() -> int:
    """``?page=…`` as a page number; a missing, malformed or absurd value is kept in range."""
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), MAX_PAGE)
