"""The API on the real engine (shared session engine, not shut down by the app) and the real MiniLM."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from creative.engine import VllmEngine
from creative.placements import get_placement
from creative.settings import Settings

pytestmark = pytest.mark.integration


class BorrowedEngine:
    """The session engine, lent to an app whose lifespan must not shut it down."""

    def __init__(self, engine: VllmEngine):
        self._engine = engine
        self.model_name = engine.model_name
        self.encode_chat = engine.encode_chat
        self.generate = engine.generate
        self.is_healthy = engine.is_healthy

    def shutdown(self) -> None:
        """The fixture owns the engine."""


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
