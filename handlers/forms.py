"""Form parsing shared by the surfaces. Forms only read input; services judge it."""

from __future__ import annotations

from flask_wtf import FlaskForm

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
