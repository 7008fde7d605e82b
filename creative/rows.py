"""Row-level handling shared by the CLI and the batch runner: parse, validate, run, and record errors.

A bad row becomes an ``{"row": i, "error": {...}}`` record; it never stops the run or loses other rows: not
JSON, nested too deeply for the parser, not UTF-8, or not a valid request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from core.errors import CreativeInputError, validation_error_info
from core.schema import CreativeRequest, CreativeResult, ErrorInfo

logger = logging.getLogger(__name__)

RowHandler = Callable[[CreativeRequest, str], Awaitable[CreativeResult]]

# What :func:`decode_line` gives for bytes that are not UTF-8: text no JSON document starts with (a NUL), so
# it travels as a row's text (through the progress file, Ray) and :func:`parse_row_object` reports it.
UNDECODABLE = "\x00not-utf-8\x00"


def decode_line(raw: bytes) -> str:
    """A line's text; :data:`UNDECODABLE` (plus the offset of the first bad byte) when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{UNDECODABLE}{exc.start}"


def parse_row_object(line: str) -> dict[str, Any] | ErrorInfo:
    """One JSONL line as a JSON object, or what is wrong with it."""
    if line.startswith(UNDECODABLE):
        where = line[len(UNDECODABLE) :]
        return ErrorInfo(message=f"row is not valid UTF-8 (byte {where})", code="invalid_utf8")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return ErrorInfo(
            message=f"row is not valid JSON: {exc.msg} at column {exc.colno}", code="invalid_json"
        )
    except RecursionError:
        return ErrorInfo(message="row is not valid JSON: nested too deeply", code="invalid_json")
    if not isinstance(data, dict):
        return ErrorInfo(message="row must be a JSON object", code="invalid_json")
    return data


def parse_row(line: str) -> CreativeRequest | ErrorInfo:
    """Validate one JSONL line into a request, or describe what is wrong with it."""
    data = parse_row_object(line)
    if isinstance(data, ErrorInfo):
        return data
    try:
        return CreativeRequest.model_validate(data)
    except ValidationError as exc:
        return validation_error_info(exc)
    except RecursionError:
        return ErrorInfo(message="row is nested too deeply", code="invalid_value")


async def run_row(row: int, line: str, handler: RowHandler, request_id: str) -> dict[str, Any]:
    """One output record for one input line; never raises for a bad row."""
    parsed = parse_row(line)
    if isinstance(parsed, ErrorInfo):
        return {"row": row, "error": parsed.model_dump()}
    try:
        result = await handler(parsed, request_id)
    except CreativeInputError as exc:
        return {"row": row, "error": exc.info.model_dump()}
    except Exception as exc:  # a broken row must not stop the run; the record says what happened
        logger.exception("row failed", extra={"row": row})
        info = ErrorInfo(
            message=f"generation failed: {type(exc).__name__}", type="server_error", code="internal"
        )
        return {"row": row, "error": info.model_dump()}
    return {"row": row, **result.model_dump(mode="json")}
