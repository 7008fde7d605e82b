"""Errors a caller can fix, carrying an OpenAI-style error body."""

from __future__ import annotations

from pydantic import ValidationError

from core.schema import ErrorInfo


class CreativeInputError(ValueError):
    """The request cannot be served as given; ``param`` names the offending field."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_value"):
        super().__init__(message)
        self.info = ErrorInfo(message=message, param=param, code=code)


def _loc_to_param(loc: tuple[int | str, ...]) -> str:
    param = ""
    for part in loc:
        param += f"[{part}]" if isinstance(part, int) else (f".{part}" if param else str(part))
    return param


def validation_error_info(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> ErrorInfo:
    """The first pydantic error as an OpenAI-style error naming the field (e.g. ``profile.age``)."""
    first = exc.errors(include_url=False)[0]
    loc = tuple(part for part in (*prefix, *first["loc"]) if part != "body")
    param = _loc_to_param(loc) or None
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    code = (
        "missing_field"
        if first["type"] == "missing"
        else ("unknown_field" if first["type"] == "extra_forbidden" else "invalid_value")
    )
    return ErrorInfo(message=f"{param or 'body'}: {first['msg']}{suffix}", param=param, code=code)
