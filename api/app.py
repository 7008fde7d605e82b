"""The app factory: ``create_app(settings)`` with a lifespan that owns the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routes import creatives, health
from api.settings import ApiSettings
from api.state import EngineFactory, ServiceState


def _default_engine_factory() -> EngineFactory:
    from creative.engine import VllmEngine

    return VllmEngine.start


def create_app(settings: ApiSettings | None = None, engine_factory: EngineFactory | None = None) -> FastAPI:
    """Build the FastAPI app; the engine starts in the background when the app starts."""
    settings = settings or ApiSettings()
    factory = engine_factory or _default_engine_factory()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServiceState(settings)
        app.state.service = state
        state.start(factory)
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="Ad-creative service",
        version="0.1.0",
        description="Personalized ad copy written by an LLM on vLLM, checked against placement limits.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(creatives.router)
    return app
