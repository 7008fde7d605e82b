"""The OpenAPI document this server serves tells the truth about how it answers.

FastAPI's generated document differs from the server in three ways, which a contract test (Schemathesis
with all its checks) reports as failures:

- it lists ``422 Validation Error`` for every operation with parameters or a body, while the error
  handlers answer ``400`` with the OpenAI-style error body;
- ``n`` and ``k`` are bounded by the request models (1..128) while the server refuses anything above
  ``max_n`` / ``max_k`` (settings);
- every operation that checks a key declares bearer auth as required, while a server without keys
  (open mode, for development) asks for none.

:func:`install_openapi` post-processes the generated document once: 400 with the error body instead of
422, 401/403 on every operation that checks a key, 413 on every operation with a body (the size limit
applies to all), ``n``/``k`` maxima from the settings, and auth marked optional (an empty security
requirement) while no key is configured. A 405 lists in ``Allow`` every method the path serves (Starlette
names only the first route's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match

from api.errors import error_response
from core.schema import ErrorInfo
from creative.settings import Settings

ERROR_BODY = "ErrorResponse"
_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_BODY}"}
_METHODS = ("get", "put", "post", "delete", "patch")
_ERRORS = {
    "400": "Invalid request; `param` names the field.",
    "401": "Missing, invalid or revoked API key.",
    "403": "The key lacks the scope this operation needs.",
    "413": "Body over the size limit.",
}

Schema = dict[str, Any]


def error_doc(description: str, model: type[Any] = ErrorInfo) -> dict[str, Any]:
    """A documented error answer for a route's ``responses`` (the body is ``{"error": model}``)."""
    return {"description": description, "model": dict[str, model]}  # type: ignore[valid-type]


def install_openapi(app: FastAPI, settings: Settings, keys_configured: bool) -> None:
    """Make ``app.openapi()`` return the truthful document (built once, then cached like FastAPI's)."""
    generate: Callable[[], Schema] = app.openapi

    def openapi() -> Schema:
        if app.openapi_schema is None:
            app.openapi_schema = truthful(generate(), settings, keys_configured)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_exception_handler(405, _method_not_allowed)


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route of ``app`` serves at the request's path."""
    methods: set[str] = set()
    for route in app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= set(route_methods)
    return sorted(methods)


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    methods = allowed_methods(request.app, request)
    info = ErrorInfo(message=f"{request.method} is not allowed here; use {', '.join(methods)}")
    return error_response(405, info, headers={"Allow": ", ".join(methods)})


def truthful(document: Schema, settings: Settings, keys_configured: bool) -> Schema:
    """``document`` (changed in place) as this server answers, for these settings."""
    schemas: Schema = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_BODY] = _error_body_schema()
    for operation in _operations(document):
        _declare_errors(operation)
        if not keys_configured and operation.get("security"):
            operation["security"] = [*operation["security"], {}]  # `{}`: no credentials is also accepted
    for name in ("HTTPValidationError", "ValidationError"):
        if not _is_referenced(document, f"#/components/schemas/{name}"):
            schemas.pop(name, None)
    _bound(schemas, "CreativeRequest", "n", settings.max_n)
    _bound(schemas, "CreativeRequest", "k", settings.max_k)
    _bound(schemas, "PreviewBody", "n", settings.max_n)
    return document


def _error_body_schema() -> Schema:
    return {
        "title": ERROR_BODY,
        "description": 'An OpenAI-style error: `{"error": {message, type, param, code}}`.',
        "type": "object",
        "properties": {"error": {"$ref": "#/components/schemas/ErrorInfo"}},
        "required": ["error"],
    }


def _operations(document: Schema) -> Iterator[Schema]:
    for path_item in document.get("paths", {}).values():
        for method in _METHODS:
            if method in path_item:
                yield path_item[method]


def _declare_errors(operation: Schema) -> None:
    """400 instead of FastAPI's 422; 401/403 where a key is checked; 413 where a body is read."""
    responses: Schema = operation.setdefault("responses", {})
    default_422 = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if default_422.get("$ref") == _FASTAPI_VALIDATION:
        del responses["422"]
        _add_error(responses, "400")
    needed = ["401", "403"] if operation.get("security") else []
    needed += ["400", "413"] if "requestBody" in operation else []
    for status in needed:
        _add_error(responses, status)


def _add_error(responses: Schema, status: str) -> None:
    if status not in responses:
        responses[status] = {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": dict(_ERROR_REF)}},
        }


def _bound(schemas: Schema, model: str, field: str, maximum: int) -> None:
    """Set the integer maximum of ``model.field`` (plain or nullable) to the server's limit."""
    prop = schemas.get(model, {}).get("properties", {}).get(field)
    if prop is None:
        return
    for branch in [prop, *prop.get("anyOf", [])]:
        if branch.get("type") == "integer":
            branch["maximum"] = maximum
            if isinstance(branch.get("default"), int) and branch["default"] > maximum:
                branch["default"] = maximum


def _is_referenced(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_is_referenced(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_is_referenced(v, ref) for v in node)
    return False
