"""Schemathesis with all its checks against every route on the fake engine: seconds, not minutes, so a
new route's undocumented refusal or status shows up in the unit suite (the real-engine run is in
``tests/integration/api/test_fuzz_real.py``)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes import FakeEngine
from tests.support.fuzz import SMALL_LIMITS, FuzzPlan, run_schemathesis, serve_http
from tests.unit.api.support import distinct_copy, fake_app

PLAN = FuzzPlan(max_examples=2, phases=("examples", "coverage", "fuzzing"))


async def test_every_route_passes_schemathesis_on_the_fake_engine(tmp_path: Path) -> None:
    app = fake_app(
        lambda settings: FakeEngine(distinct_copy),
        **SMALL_LIMITS,
        templates_db_url=f"sqlite:///{tmp_path / 'templates.db'}",
        home=str(tmp_path),
    )
    async with serve_http(app) as url:
        report = await run_schemathesis(url, tmp_path / "report", PLAN)
    assert report.cases >= 500, report.explain()
    assert report.server_errors == 0, report.explain()
    assert report.failures == [] and report.errors == [], report.explain()
    assert report.exit_code == 0, report.explain()
    assert report.statuses[400] >= 10, report.explain()  # invalid input was sent and refused
