"""Limits, cancellation, metrics, listings and log privacy of the API, on a fake engine."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import MutableMapping
from typing import Any

import pytest

from api.limits import Admission, OverloadedError
from tests.fakes import FakeEngine
from tests.unit.api.support import distinct_copy, serving


async def wait_until(condition: Any) -> None:
    """Poll ``condition()`` for up to 5 s (a hang guard, not a speed assertion)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_admission_bounds_active_and_queued() -> None:
    admission = Admission(max_active=1, max_queued=1, retry_after=3)
    refused: list[int] = []
    admission.on_refused = lambda: refused.append(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with admission.slot():
            await release.wait()

    first, second = asyncio.create_task(hold()), asyncio.create_task(hold())
    await wait_until(lambda: admission.active == 1 and admission.waiting == 1)
    with pytest.raises(OverloadedError) as caught:
        async with admission.slot():
            pass
    assert caught.value.retry_after == 3 and refused == [1]
    release.set()
    await asyncio.gather(first, second)
    assert admission.active == admission.waiting == 0


async def test_over_the_concurrency_bound_is_a_429_with_retry_after(sample_request: dict[str, Any]) -> None:
    engine = FakeEngine(distinct_copy)
    engine.gate = asyncio.Event()
    async with serving(engine, max_concurrent_requests=16, retry_after_s=7) as served:
        held = [
            asyncio.create_task(served.client.post("/v1/creatives", json=sample_request)) for _ in range(16)
        ]
        await wait_until(lambda: engine.in_flight == 16)
        over = await served.client.post("/v1/creatives", json=sample_request)
        metrics = (await served.client.get("/metrics")).text
        engine.gate.set()
        responses = await asyncio.gather(*held)
    assert over.status_code == 429 and over.headers["retry-after"] == "7"
    assert over.json()["error"]["type"] == "rate_limit_error"
    assert [r.status_code for r in responses] == [200] * 16
    assert engine.max_in_flight == 16
    assert "adcreative_active_generations 16.0" in metrics
    assert "adcreative_overloaded_requests_total 1.0" in metrics


async def test_a_queue_place_waits_instead_of_429(sample_request: dict[str, Any]) -> None:
    engine = FakeEngine(distinct_copy)
    engine.gate = asyncio.Event()
    async with serving(engine, max_concurrent_requests=1, max_queued_requests=1) as served:
        first = asyncio.create_task(served.client.post("/v1/creatives", json=sample_request))
        await wait_until(lambda: engine.in_flight == 1)
        queued = asyncio.create_task(served.client.post("/v1/creatives", json=sample_request))
        await wait_until(lambda: served.app.state.service.admission.waiting == 1)
        refused = await served.client.post("/v1/creatives", json=sample_request)
        engine.gate.set()
        assert [(await first).status_code, (await queued).status_code, refused.status_code] == [200, 200, 429]


async def test_a_client_that_disconnects_cancels_its_generation(sample_request: dict[str, Any]) -> None:
    engine = FakeEngine(distinct_copy)
    engine.gate = asyncio.Event()  # never set: the generation would wait forever
    async with serving(engine) as served:
        body = json.dumps(sample_request).encode()
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        disconnect = asyncio.Event()
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/creatives",
            "raw_path": b"/v1/creatives",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"test"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
        }
        call = asyncio.create_task(served.app(scope, receive, send))
        await wait_until(lambda: engine.in_flight == 1)
        disconnect.set()
        await asyncio.wait_for(call, timeout=5)
        metrics = (await served.client.get("/metrics")).text
    assert engine.cancelled == 1 and engine.in_flight == 0
    assert served.app.state.service.admission.active == 0  # the slot was given back
    assert "adcreative_cancelled_requests_total 1.0" in metrics


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_limit_is_a_413(sample_request: dict[str, Any], chunked: bool) -> None:
    sample_request["product"]["description"] = "x" * 3000
    body = json.dumps(sample_request).encode()
    async with serving(max_body_bytes=2048) as served:
        if chunked:  # no Content-Length: the limit applies while the body streams

            async def stream() -> Any:
                for i in range(0, len(body), 512):
                    yield body[i : i + 512]

            response = await served.client.post(
                "/v1/creatives", content=stream(), headers={"content-type": "application/json"}
            )
        else:
            response = await served.client.post(
                "/v1/creatives", content=body, headers={"content-type": "application/json"}
            )
    assert response.status_code == 413
    assert response.json()["error"] == {
        "message": "request body is over the limit of 2048 bytes",
        "type": "invalid_request_error",
        "param": "body",
        "code": "body_too_large",
    }
    assert served.engine.calls == []


async def test_metrics_count_requests_tokens_and_validity(sample_request: dict[str, Any]) -> None:
    async with serving() as served:
        assert (await served.client.post("/v1/creatives", json=sample_request)).status_code == 200
        assert (await served.client.post("/v1/creatives", json={"bad": 1})).status_code == 400
        response = await served.client.get("/metrics")
    text = response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert 'adcreative_requests_total{method="POST",route="/v1/creatives",status="200"} 1.0' in text
    assert 'adcreative_requests_total{method="POST",route="/v1/creatives",status="400"} 1.0' in text
    assert 'adcreative_candidates_total{outcome="valid_first_try"} 8.0' in text
    assert 'adcreative_tokens_total{kind="completion"}' in text
    assert 'adcreative_request_latency_seconds_count{method="POST",route="/v1/creatives"} 2.0' in text


async def test_listings_of_placements_and_templates() -> None:
    async with serving() as served:
        placements = (await served.client.get("/v1/placements")).json()["data"]
        templates = (await served.client.get("/v1/templates")).json()["data"]
    google = next(p for p in placements if p["name"] == "google_search")
    assert google["counting"] == "google_width"
    assert {f["name"]: f["max_chars"] for f in google["fields"]} == {"headline": 30, "description": 90}
    assert {p["name"] for p in placements} == {"google_search", "meta_feed", "push", "email"}
    assert {t["name"] for t in templates} >= {"google_search", "push"}
    assert all(t["labels"]["production"] >= 1 and t["placements"] for t in templates)


async def test_responses_carry_a_request_id(sample_request: dict[str, Any]) -> None:
    async with serving() as served:
        echoed = await served.client.post(
            "/v1/creatives", json=sample_request, headers={"x-request-id": "abc-1"}
        )
        fresh = await served.client.get("/v1/placements")
    assert echoed.headers["x-request-id"] == "abc-1" and echoed.json()["request_id"] == "cr-abc-1"
    assert len(fresh.headers["x-request-id"]) == 32


@pytest.mark.parametrize("sensitive", [False, True])
async def test_profile_and_copy_reach_the_logs_only_when_enabled(
    sample_request: dict[str, Any], caplog: pytest.LogCaptureFixture, sensitive: bool
) -> None:
    sample_request["profile"]["location"] = "Secretville"
    caplog.set_level(logging.DEBUG)
    async with serving(log_sensitive=sensitive) as served:
        response = await served.client.post("/v1/creatives", json=sample_request)
    assert response.status_code == 200
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "creatives written" in logged and "/v1/creatives" in logged
    assert ("Secretville" in logged) is sensitive
    assert ("Grip for muddy trails" in logged) is sensitive
