"""The app factory: ``create_app(settings)``; its lifespan starts and stops the engine and the ranker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.middleware import AccessLog, BodySizeLimit
from api.openapi import install_openapi
from api.routes import adapters, creatives, events, experiments, health, metrics, placements, templates, ui
from api.security import TrustedHosts, allowed_hosts
from api.settings import ApiSettings
from api.state import EngineFactory, RankerFactory, ServiceState
from creative.pipeline import VariantRanker
from ranking.settings import RankingSettings

API_VERSION = "0.2.0"


def _default_engine_factory() -> EngineFactory:
    from creative.engine import VllmEngine

    return VllmEngine.start


def _load_ranker(settings: RankingSettings) -> VariantRanker:
    """The ranker the settings describe (the packaged MiniLM by default)."""
    from ranking.rank import Ranker

    return Ranker.from_settings(settings)


def create_app(
    settings: ApiSettings | None = None,
    engine_factory: EngineFactory | None = None,
    ranker_factory: RankerFactory | None = None,
) -> FastAPI:
    """Build the FastAPI app; the engine and the ranker load in the background when the app starts.

    The factories are for tests: a fake engine for fast API tests, a borrowed session engine for
    integration tests.
    """
    settings = settings or ApiSettings()
    factory = engine_factory or _default_engine_factory()
    rank_factory = ranker_factory or _load_ranker
    state = ServiceState.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start(factory, rank_factory)
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="Ad-creative service",
        version=API_VERSION,
        description="Personalized ad copy from an LLM on vLLM, checked against placement limits and ranked.",
        lifespan=lifespan,
        strict_content_type=True,  # a body is JSON only with a JSON Content-Type (no CORS-free POSTs)
    )
    app.state.service = state
    app.state.metrics = state.metrics
    install_error_handlers(app)
    install_openapi(app, settings.generation, keys_configured=state.keys.enabled)
    for module in (health, creatives, placements, templates, adapters, experiments, events, metrics, ui):
        app.include_router(module.router)
    app.mount(ui.STATIC_PREFIX, ui.static_files(), name="ui-static")
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        read_timeout_s=settings.body_read_timeout_s,
        path_limits={events.EVENTS_PATH: settings.experiments.events_max_body_bytes},
    )
    app.add_middleware(TrustedHosts, hosts=allowed_hosts(settings))  # before the body is read
    app.add_middleware(AccessLog, metrics=state.metrics)
    return app
