"""The project's one exception tree. Messages are written for the person who will read them."""

from __future__ import annotations


class ServiceError(Exception):
    """A rule refused the request; ``message`` is shown to the user as it is."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(ServiceError):
    """One field is wrong; ``field`` names the form field, when there is one."""

    code = "validation"

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


class StopValidation(ServiceError):
    """Several fields are wrong at once."""

    code = "validation"

    def __init__(self, errors: list[ValidationError]) -> None:
        super().__init__("；".join(error.message for error in errors))
        self.errors = errors


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class PermissionDenied(ServiceError):
    status_code = 403
    code = "forbidden"


class Conflict(ServiceError):
    """The request clashes with the current state (already bought, already reviewed …)."""

    status_code = 409
    code = "conflict"


class ExternalServiceError(ServiceError):
    """WeChat, WeChat Pay or another provider did not answer as expected."""

    status_code = 502
    code = "upstream"
