"""ASGI middleware: a body-size and read-time limit and the access log + request metrics (no bodies are ever
logged)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from api.metrics import ServiceMetrics
from core.schema import ErrorInfo

access_log = logging.getLogger("api.access")


class _TooLargeError(Exception):
    """The body streamed past the size limit."""


class BodySizeLimit:
    """Answer 413 for a body over ``max_bytes``: by Content-Length up front, else once the body streams
    past it; 408 when the body takes longer than ``read_timeout_s`` to arrive (a slow client never holds a
    request open). The body (at most ``max_bytes``) is read before the app runs, then replayed to it.
    ``path_limits`` gives some paths their own limit (``/v1/events`` takes batches of 1,000 events)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        read_timeout_s: float = 30.0,
        path_limits: dict[str, int] | None = None,
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._reject(send, 413, self._too_large(limit))
            return
        try:
            async with asyncio.timeout(self.read_timeout_s):
                body = await self._read(receive, limit)
        except TimeoutError:
            info = ErrorInfo(
                message=f"the request body did not arrive within {self.read_timeout_s:g} s",
                param="body",
                code="body_timeout",
            )
            await self._reject(send, 408, info)
            return
        except _TooLargeError:
            await self._reject(send, 413, self._too_large(limit))
            return
        if body is None:
            return  # the client left
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

        async def replaying_receive() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replaying_receive, send)

    async def _read(self, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None when the client disconnected; :class:`_TooLargeError` past the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self, limit: int) -> ErrorInfo:
        return ErrorInfo(
            message=f"request body is over the limit of {limit} bytes",
            param="body",
            code="body_too_large",
        )

    async def _reject(self, send: Send, status: int, info: ErrorInfo) -> None:
        body = error_body(info)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class AccessLog:
    """One JSON log line and one metrics sample per request: method, route template, status, latency.

    Also sets ``X-Request-ID`` (the client's, when it sent a sane one).
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 1),
                },
            )
