"""Helpers for API tests: a fake-engine app, served in the test's event loop (true concurrency)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from api.app import create_app
from api.settings import ApiSettings
from creative.engine import SamplingSpec
from ranking.rank import Ranker
from tests.fakes import FakeEngine, json_copy
from tests.unit.ranking.fakes import WordEmbedder

HEADLINES = [
    "Trail shoes that stay dry",
    "Grip for muddy trails",
    "Run wet trails in comfort",
    "Dry feet, long runs",
]
DESCRIPTIONS = [
    "Peak TrailRunner X keeps feet dry.",
    "Waterproof trail shoe from Peak.",
    "A trail shoe made for rain and mud.",
    "Light waterproof shoe for trail running.",
]


def distinct_copy(spec: SamplingSpec, call: int) -> list[str]:
    """Different copy per candidate (the ranker drops duplicates)."""
    return [json_copy(headline=HEADLINES[i % 4], description=DESCRIPTIONS[i // 4 % 4]) for i in range(spec.n)]


def fake_app(engine_factory: Callable[[Any], FakeEngine], **settings: Any) -> FastAPI:
    """The app with a fake engine and a bag-of-words ranker."""
    return create_app(
        ApiSettings(**settings),
        engine_factory=engine_factory,
        ranker_factory=lambda s: Ranker(WordEmbedder(), s),
    )


class Served:
    """An app running its lifespan, an httpx client on it, and its fake engine."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, engine: FakeEngine):
        self.app, self.client, self.engine = app, client, engine


def serving(engine: FakeEngine | None = None, **settings: Any) -> AbstractAsyncContextManager[Served]:
    """``async with serving(**settings) as served``: a ready fake-engine app and an async client on it."""
    return _serving(engine or FakeEngine(distinct_copy), settings)


@asynccontextmanager
async def _serving(engine: FakeEngine, settings: dict[str, Any]) -> AsyncIterator[Served]:
    app = fake_app(lambda s: engine, **settings)
    async with app.router.lifespan_context(app):
        await app.state.service.wait_ready()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Served(app, client, engine)
