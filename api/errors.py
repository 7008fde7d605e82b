"""Map every failure to an OpenAI-style JSON error body: ``{"error": {message, type, param, code}}``.

One handler serves every error of the contract (``core.errors.ServiceError``: input errors, unknown
templates, conflicts, overload, authentication, an engine not ready); the others map request validation
(400), Starlette's HTTP errors, an unreachable registry database (503) and anything unexpected (500).
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import ServiceError, validation_error_info
from core.schema import ErrorInfo

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
    return error_response(400, validation_error_info(exc))


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    """Every error of the contract (``core.errors.ServiceError``): its status, body and headers."""
    assert isinstance(exc, ServiceError)
    return JSONResponse({"error": exc.body()}, status_code=exc.status, headers=exc.headers() or None)


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
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
