"""The session's real engine lent to an app (whose lifespan must not shut it down)."""

from __future__ import annotations

from typing import Any

from creative.engine import VllmEngine


class BorrowedEngine:
    """The session engine, lent to an app whose lifespan must not shut it down; everything else is the
    engine's own (``generate``, ``encode_chat``, ``is_healthy``, ...)."""

    def __init__(self, engine: VllmEngine):
        self._engine = engine
        self.model_name = engine.model_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def shutdown(self) -> None:
        """The fixture owns the engine."""
