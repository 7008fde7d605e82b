"""The API on the real engine (shared session engine, not shut down by the app) and the real MiniLM."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from core.placements import get_placement
from creative.engine import VllmEngine
from creative.settings import Settings
from tests.support.borrowed import BorrowedEngine

__all__ = ["BorrowedEngine"]  # the browser test borrows the engine the same way

pytestmark = pytest.mark.integration


async def test_post_creatives_on_the_real_engine(
    real_engine: VllmEngine, engine_settings: Settings, sample_request: dict[str, Any]
) -> None:
    settings = ApiSettings(**engine_settings.model_dump())
    app = create_app(settings, engine_factory=lambda s: BorrowedEngine(real_engine))
    async with app.router.lifespan_context(app):
        await app.state.service.wait_ready()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/health")).status_code == 200
            sample_request.update(placement="meta_feed", n=3, k=2, seed=3)
            response = await client.post("/v1/creatives", json=sample_request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "smollm2-135m-instruct"
    placement = get_placement("meta_feed")
    assert body["variants"]
    assert body["ranked"] is True and 1 <= len(body["variants"]) <= min(2, body["stats"]["returned"])
    assert [v["score"]["rank"] for v in body["variants"]] == list(range(1, len(body["variants"]) + 1))
    for variant in body["variants"]:
        assert variant["score"]["relevance_source"] == "embedding"  # the real MiniLM ranked them
        for spec in placement.fields:
            assert len(variant["fields"][spec.name]) <= spec.max_chars
    assert real_engine.is_healthy()


async def test_sixteen_concurrent_requests_succeed_and_one_more_is_refused(
    real_engine: VllmEngine, engine_settings: Settings, sample_request: dict[str, Any]
) -> None:
    settings = ApiSettings(**{**engine_settings.model_dump(), "max_concurrent_requests": 16})
    app = create_app(settings, engine_factory=lambda s: BorrowedEngine(real_engine))
    placement = get_placement("push")
    async with app.router.lifespan_context(app):
        state = app.state.service
        await state.wait_ready()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=600) as client:
            bodies = [{**sample_request, "placement": "push", "n": 2, "k": 1, "seed": s} for s in range(16)]
            held = [asyncio.create_task(client.post("/v1/creatives", json=b)) for b in bodies]
            for _ in range(3000):  # until all 16 hold a slot (a hang guard, not a timing assertion)
                if state.admission.active == 16:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail(f"only {state.admission.active} of 16 requests held a slot after 30 s")
            over = await client.post("/v1/creatives", json=bodies[0])
            responses = await asyncio.gather(*held)
            metrics = (await client.get("/metrics")).text
    assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
    assert [r.status_code for r in responses] == [200] * 16, [
        r.text for r in responses if r.status_code != 200
    ]
    variants = [v for r in responses for v in r.json()["variants"]]
    assert len(variants) >= 8  # the base model's copy passes for most requests (k=1 each)
    for variant in variants:
        for spec in placement.fields:
            assert len(variant["fields"][spec.name]) <= spec.max_chars
    assert 'adcreative_requests_total{method="POST",route="/v1/creatives",status="200"} 16.0' in metrics
    assert real_engine.is_healthy()
