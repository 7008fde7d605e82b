"""The one error contract: every error a caller sees carries an HTTP status and an OpenAI-style body.

:class:`ServiceError` is the base of every such error (input errors, unknown templates, conflicts,
overload, authentication, an engine not ready…): its class says the status, type, code and param, so the
API answers all of them with one handler and the CLI and the batch write the same ``ErrorInfo`` into
their records. :func:`validation_error_info` is the one mapper from pydantic errors to ``ErrorInfo``, for
the API's request validation, the CLI's rows and the batch's rows alike (``param`` is dotted:
``profile.interests.0``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from core.schema import ErrorInfo


class ServiceError(Exception):
    """An error with an HTTP ``status`` and an OpenAI-style body; subclasses set the defaults."""

    status: int = 400
    error_type: str = "invalid_request_error"
    code: str | None = "invalid_value"
    param: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if param is not None:
            self.param = param
        if code is not None:
            self.code = code

    @property
    def info(self) -> ErrorInfo:
        """The error object of the body."""
        return ErrorInfo(message=self.message, type=self.error_type, param=self.param, code=self.code)

    def body(self) -> dict[str, Any]:
        """The JSON ``error`` object (subclasses may add fields)."""
        return self.info.model_dump()

    def headers(self) -> dict[str, str]:
        """Response headers the status calls for (``Retry-After``, ``WWW-Authenticate``)."""
        return {}


class CreativeInputError(ServiceError, ValueError):
    """The request cannot be served as given (400); ``param`` names the offending field."""


_LOCATIONS = ("body", "path", "query", "header")  # where a parameter came from; ``param`` names it alone
_CODES = {"missing": "missing_field", "extra_forbidden": "unknown_field", "json_invalid": "invalid_json"}


class _HasErrors(Protocol):
    def errors(self) -> Sequence[Mapping[str, Any]]: ...


def validation_error_info(exc: _HasErrors, prefix: tuple[int | str, ...] = ()) -> ErrorInfo:
    """The first error of a pydantic ``ValidationError`` (or FastAPI's ``RequestValidationError``) as an
    error naming the field; ``prefix`` is prepended to the field's location (a nested object's path)."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(part for part in (*prefix, *first.get("loc", ())) if part not in _LOCATIONS)
    param = ".".join(str(part) for part in loc) or None
    more = len(errors) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return ErrorInfo(
        message=f"{param or 'body'}: {first.get('msg', 'invalid value')}{suffix}",
        param=param,
        code=_CODES.get(first.get("type", ""), "invalid_value"),
    )
