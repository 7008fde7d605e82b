"""Slow clients cannot hold the server: the body read time is bounded (408), so is uvicorn's concurrency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import pytest

from tests.fakes import FakeEngine
from tests.unit.api.support import distinct_copy, fake_app


def _scope(path: str = "/v1/creatives") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", b"1000"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def test_a_body_that_trickles_in_too_slowly_is_answered_408() -> None:
    app = fake_app(lambda s: FakeEngine(distinct_copy), body_read_timeout_s=0.3)
    sent: list[MutableMapping[str, Any]] = []
    chunks = [{"type": "http.request", "body": b'{"profile": ', "more_body": True}]

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await asyncio.Event().wait()  # the client never sends the rest (and never leaves)
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(_scope(), receive, send), timeout=10)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 408
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == "body_timeout" and error["param"] == "body"


def test_uvicorn_gets_the_concurrency_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    import api.__main__ as entry
    import api.app
    import api.logs

    seen: dict[str, Any] = {}
    monkeypatch.setenv("ADCREATIVE_LIMIT_CONCURRENCY", "7")
    monkeypatch.setattr(api.app, "create_app", lambda settings: "app")
    monkeypatch.setattr(api.logs, "configure_logging", lambda settings: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    entry.serve()
    assert seen["limit_concurrency"] == 7
