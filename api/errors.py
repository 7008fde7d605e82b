"""Map every failure to an OpenAI-style JSON error body: ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import AuthError
from api.cancellation import ClientDisconnectedError
from api.limits import OverloadedError
from api.protocol.templates import ConflictInfo
from core.errors import CreativeInputError
from core.schema import ErrorInfo
from creative.engine import EngineNotReadyError
from prompts.models import StaleLabelError, StaleVersionError, TemplateValidationError
from prompts.refs import TemplateNotFoundError, TemplateRefError
from prompts.template import TemplateError

logger = logging.getLogger(__name__)

_HTTP_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


_LOCATIONS = ("body", "path", "query", "header")  # where a parameter came from; `param` names it alone

CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left before the answer


def error_body(info: ErrorInfo) -> bytes:
    """The OpenAI-shaped JSON body of an error."""
    return json.dumps({"error": info.model_dump()}).encode()


def error_response(status: int, info: ErrorInfo, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response in the OpenAI shape."""
    return JSONResponse({"error": info.model_dump()}, status_code=status, headers=headers)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    """A request that fails its schema: 400 naming the field. Any other pydantic ``ValidationError`` (say,
    a response that fails its own model) is a server bug and goes to :func:`_unexpected`: 500, logged."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    loc = tuple(part for part in first.get("loc", ()) if part not in _LOCATIONS)
    param = ".".join(str(p) for p in loc) or None
    kind = first.get("type", "")
    code = {
        "missing": "missing_field",
        "extra_forbidden": "unknown_field",
        "json_invalid": "invalid_json",
    }
    info = ErrorInfo(
        message=f"{param or 'body'}: {first.get('msg', 'invalid value')}",
        param=param,
        code=code.get(kind, "invalid_value"),
    )
    return error_response(400, info)


async def _creative_input(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CreativeInputError)
    return error_response(400, exc.info)


async def _not_ready(_: Request, exc: Exception) -> JSONResponse:
    info = ErrorInfo(message=str(exc), type="service_unavailable", code="engine_not_ready")
    return error_response(503, info, headers={"Retry-After": "5"})


async def _overloaded(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OverloadedError)
    info = ErrorInfo(message=str(exc), type="rate_limit_error", code="overloaded")
    return error_response(429, info, headers={"Retry-After": str(exc.retry_after)})


async def _auth(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    info = ErrorInfo(message=exc.message, type=_HTTP_TYPES[exc.status], code=exc.code)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, info, headers=headers)


async def _disconnected(_: Request, exc: Exception) -> JSONResponse:
    info = ErrorInfo(message="client disconnected; generation cancelled", code="client_disconnected")
    return error_response(CLIENT_CLOSED_REQUEST, info)


async def _template_not_found(_: Request, exc: Exception) -> JSONResponse:
    info = ErrorInfo(message=str(exc), type="not_found_error", param="template", code="template_not_found")
    return error_response(404, info)


async def _template_ref(_: Request, exc: Exception) -> JSONResponse:
    return error_response(400, ErrorInfo(message=str(exc), param="template", code="invalid_template_ref"))


async def _template_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TemplateValidationError)
    return error_response(422, ErrorInfo(message=str(exc), param=exc.param, code=exc.code))


async def _template_error(_: Request, exc: Exception) -> JSONResponse:
    """Any other template failure (a version that cannot render): the template is at fault, not the server."""
    logger.warning("template error: %s", exc)
    return error_response(422, ErrorInfo(message=str(exc), param="template", code="template_error"))


async def _stale(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StaleVersionError | StaleLabelError)
    stale_version = isinstance(exc, StaleVersionError)
    info = ConflictInfo(
        message=str(exc),
        param="base_version" if stale_version else "expected_version",
        code="stale_version" if stale_version else "stale_label",
        current_version=exc.current,
    )
    return JSONResponse({"error": info.model_dump()}, status_code=409)


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    logger.error("template registry unavailable: %s", type(exc).__name__)
    info = ErrorInfo(
        message="the template registry database is unavailable; retry shortly",
        type="service_unavailable",
        code="registry_unavailable",
    )
    return error_response(503, info, headers={"Retry-After": "5"})


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    info = ErrorInfo(
        message=str(exc.detail),
        type=_HTTP_TYPES.get(exc.status_code, "invalid_request_error"),
        code=None,
    )
    return error_response(exc.status_code, info, headers=dict(exc.headers or {}))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, ErrorInfo(message="internal error", type="server_error", code="internal"))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(CreativeInputError, _creative_input)
    app.add_exception_handler(EngineNotReadyError, _not_ready)
    app.add_exception_handler(OverloadedError, _overloaded)
    app.add_exception_handler(AuthError, _auth)
    app.add_exception_handler(TemplateNotFoundError, _template_not_found)
    app.add_exception_handler(TemplateRefError, _template_ref)
    app.add_exception_handler(TemplateValidationError, _template_invalid)
    app.add_exception_handler(TemplateError, _template_error)
    app.add_exception_handler(StaleVersionError, _stale)
    app.add_exception_handler(StaleLabelError, _stale)
    app.add_exception_handler(ClientDisconnectedError, _disconnected)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
