"""A client that disconnects cancels its generation inside vLLM, over real HTTP on the real engine.

Proof from both sides of vLLM: the front end (``AsyncLLM``'s output processor) no longer tracks the
request, and the engine core has freed every KV-cache block it held (``reset_prefix_cache`` succeeds
only when no block is in use); the app gave the admission slot back and counted the cancellation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from creative.engine import VllmEngine
from creative.settings import Settings
from tests.support.borrowed import BorrowedEngine
from tests.support.fuzz import serve_http

pytestmark = pytest.mark.integration

ABORT_WITHIN_S = 10.0  # from the disconnect until vLLM holds nothing: the abort itself takes milliseconds


async def vllm_is_idle(llm: Any) -> bool:
    """No request in vLLM's front end and no KV-cache block in use in its engine core."""
    return llm.get_num_unfinished_requests() == 0 and bool(await llm.reset_prefix_cache())


async def vllm_is_generating(llm: Any) -> bool:
    """A request is tracked by the front end and holds KV-cache blocks in the core (it is running)."""
    return llm.get_num_unfinished_requests() > 0 and not await llm.reset_prefix_cache()


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float, failure: str) -> float:
    """Seconds until ``condition()`` holds; fails the test with ``failure`` after ``timeout_s``."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"{failure} (waited {timeout_s:.0f} s)")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_client_disconnect_aborts_the_request_inside_vllm(
    real_engine: VllmEngine,
    engine_settings: Settings,
    sample_request: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    llm: Any = real_engine._engine
    assert await vllm_is_idle(llm), "another request is still in vLLM before the test starts"
    aborted: list[str] = []
    abort = llm.abort

    async def recording_abort(request_id: Any, internal: bool = False) -> None:
        aborted.append(str(request_id))
        await abort(request_id, internal)

    monkeypatch.setattr(llm, "abort", recording_abort)
    # Long generations: 16 candidates of up to 256 tokens take far longer than the abort's bound.
    settings = ApiSettings(
        **{**engine_settings.model_dump(), "max_output_tokens": 256, "max_regenerations": 0}
    )
    app = create_app(settings, engine_factory=lambda s: BorrowedEngine(real_engine))
    sample_request.update(placement="email", n=16, k=1, seed=1)
    async with serve_http(app) as url, httpx.AsyncClient(base_url=url, timeout=600) as client:
        post = asyncio.create_task(client.post("/v1/creatives", json=sample_request))
        await wait_for(lambda: vllm_is_generating(llm), 120, "the request never started generating in vLLM")
        assert app.state.service.admission.active == 1
        post.cancel()  # the client gives up: its connection closes mid-request
        await asyncio.gather(post, return_exceptions=True)
        await wait_for(lambda: vllm_is_idle(llm), ABORT_WITHIN_S, "vLLM still holds the request")
        metrics = (await client.get("/metrics")).text
    assert aborted, "vLLM was never asked to abort the request (did it just run to its end?)"
    assert all(request_id.startswith("cr-") for request_id in aborted), aborted
    assert app.state.service.admission.active == 0  # the app's slot is free too
    assert "adcreative_cancelled_requests_total 1.0" in metrics
    assert 'route="/v1/creatives",status="200"' not in metrics  # it was cancelled, not finished
