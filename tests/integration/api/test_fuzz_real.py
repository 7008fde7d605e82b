"""Schemathesis with all its checks against the API on the real engine: open mode, then with API keys.

Positive and negative cases for every operation and method (GET, PUT and POST), response bodies
validated against the OpenAPI document, status codes, content types, headers and auth. Small limits keep
the real generations short; ``bench/bench_fuzz.py`` runs the same at 1,000+ cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.auth import SCOPES, new_key
from api.settings import ApiSettings
from creative.engine import VllmEngine
from creative.settings import Settings
from tests.support.borrowed import BorrowedEngine
from tests.support.fuzz import SMALL_LIMITS, FuzzPlan, FuzzReport, run_schemathesis, serve_http

pytestmark = pytest.mark.integration

# ~650 cases per run, most of them refused before any generation; a handful really generate.
PLAN = FuzzPlan(max_examples=2, phases=("examples", "coverage", "fuzzing"))


def fuzz_settings(engine_settings: Settings, tmp_path: Path, **extra: Any) -> ApiSettings:
    """The session engine's settings with small limits and a throw-away template registry."""
    return ApiSettings(
        **{
            **engine_settings.model_dump(),
            **SMALL_LIMITS,
            "templates_db_url": f"sqlite:///{tmp_path / 'templates.db'}",
            **extra,
        }
    )


def assert_clean(report: FuzzReport, min_cases: int) -> None:
    """No 5xx, no check failure, no run error; enough cases, and real generations among them."""
    assert report.cases >= min_cases, report.explain()
    assert report.server_errors == 0, report.explain()
    assert report.failures == [] and report.errors == [], report.explain()
    assert report.exit_code == 0, report.explain()
    assert report.by_operation["POST /v1/creatives 200"] >= 1, report.explain()  # the engine really wrote
    assert report.statuses[400] >= 10, report.explain()  # invalid input was sent and refused


async def test_fuzz_in_open_mode(real_engine: VllmEngine, engine_settings: Settings, tmp_path: Path) -> None:
    app = create_app(
        fuzz_settings(engine_settings, tmp_path), engine_factory=lambda s: BorrowedEngine(real_engine)
    )
    async with serve_http(app) as url:
        report = await run_schemathesis(url, tmp_path / "report", PLAN)
    assert_clean(report, min_cases=100)
    assert report.statuses[401] == 0, report.explain()  # open mode asks for no key


async def test_fuzz_with_api_keys(real_engine: VllmEngine, engine_settings: Settings, tmp_path: Path) -> None:
    key, record = new_key("fuzz", SCOPES)
    settings = fuzz_settings(engine_settings, tmp_path, api_keys=[record])
    app = create_app(settings, engine_factory=lambda s: BorrowedEngine(real_engine))
    async with serve_http(app) as url:
        report = await run_schemathesis(
            url, tmp_path / "report", PLAN, headers=[f"Authorization: Bearer {key}"]
        )
    assert_clean(report, min_cases=100)
    assert report.statuses[401] >= 1, report.explain()  # Schemathesis checked that a missing key is refused
