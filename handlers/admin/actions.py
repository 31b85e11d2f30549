"""One console action: validate → call the service as the logged-in staff member → commit →
flash → redirect. Every page of the console that changes something goes through here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import flash, redirect
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from handlers.admin import current_actor
from handlers.forms import apply_errors
from infra.extensions import db
from infra.transaction import commit
from services.audit import Actor
from services.errors import ServiceError, StopValidation

T = TypeVar("T")


def console_action(
    perform: Callable[[Actor], T],
    *,
    done: str | Callable[[T], str] | None,
    then: str | Callable[[T], str],
    form: FlaskForm | None = None,
    refused: str | None = None,
) -> Response | None:
    """Run ``perform`` (one service call) as the logged-in staff member.

    Success: commit, flash ``done`` (a message, or how to word one from the result) and
    redirect to ``then``. A refusal (``form`` does not validate, or the service raises a
    ``ServiceError``) undoes what the service wrote, then: with ``refused`` (a URL), each
    message is flashed and the browser goes there; without it, the messages stay on ``form``
    and None tells the caller to show the form's page again (None too when nothing was
    submitted, as on a GET of the page).
    """
    if form is not None and not form.validate_on_submit():
        if refused is None:
            return None
        for messages in form.errors.values():
            for message in messages:
                flash(str(message), "error")
        return redirect(refused)
    actor = current_actor()
    try:
        # A savepoint: a refusal undoes exactly what the service wrote (and what it queued
        # to run after commit), whatever the request did before.
        with db.session.begin_nested():
            result = perform(actor)
    except ServiceError as error:
        if refused is None:
            if form is None:
                raise
            apply_errors(form, error)
            return None
        for item in error.errors if isinstance(error, StopValidation) else [error]:
            flash(item.message, "error")
        return redirect(refused)
    commit()
    message = done(result) if callable(done) else done
    if message:
        flash(message, "success")
    return redirect(then(result) if callable(then) else then)
