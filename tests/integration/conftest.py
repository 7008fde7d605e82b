"""The real vLLM engine on the real packaged model, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from creative.engine import VllmEngine
from creative.settings import Settings


@pytest.fixture(scope="session")
def engine_settings() -> Settings:
    """Small limits so the engine starts fast on 2 CPU cores."""
    settings = Settings(max_model_len=1024, kv_cache_bytes=128 << 20, max_num_seqs=32)
    if not (settings.resolved_model_path / "config.json").is_file():
        pytest.fail(f"model not prepared at {settings.resolved_model_path}: run `make models`")
    return settings


@pytest.fixture(scope="session")
def real_engine(engine_settings: Settings) -> Iterator[VllmEngine]:
    """One real engine for the whole session; shut down at the end."""
    engine = VllmEngine.start(engine_settings)
    yield engine
    engine.shutdown()
