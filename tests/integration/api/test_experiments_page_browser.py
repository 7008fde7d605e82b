"""The experiments page in a real headless Chromium on a real server and engine: an experiment created,
creatives served with decisions, events posted over HTTP, then the list, the readout and the chart.
Writes ``tests/artifacts/experiments.png`` for a person to look at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from tests.integration.api.test_template_editor_browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    VIEWPORT,
    chromium_path,
    server,
)

pytestmark = pytest.mark.integration
__all__ = ["server"]  # the fixture, shared with the template editor's test
SCREENSHOT = ARTIFACTS / "experiments.png"
EXPERIMENT = {
    "name": "Adapter vs base",
    "placement": "google_search",
    "control": "base",
    "arms": [
        {"name": "base", "template": "google_search@1", "adapter": None, "n": 2, "k": 1},
        {"name": "house", "template": "google_search@1", "adapter": "house", "n": 2, "k": 1},
    ],
}


async def serve_and_report(client: httpx.AsyncClient, sample_request: dict[str, Any]) -> dict[str, Any]:
    """Create the experiment, serve six units on the real engine, post their impressions and two clicks."""
    created = await client.post("/v1/experiments", json=EXPERIMENT)
    assert created.status_code == 201, created.text
    experiment: dict[str, Any] = created.json()
    request = {**sample_request, "experiment": experiment["id"], "n": None, "k": None, "seed": 3}
    events = []
    now = datetime.now(UTC)
    for i in range(6):
        body = {**request, "profile": {**request["profile"], "id": f"unit-{i}"}}
        answer = await client.post("/v1/creatives", json=body)
        assert answer.status_code == 200, answer.text
        decision = answer.json()["decision"]
        creative = decision["creative_ids"][0]
        events.append(_event(f"imp-{i}", decision["id"], creative, "impression", now))
        if i < 2:
            events.append(_event(f"click-{i}", decision["id"], creative, "click", now + timedelta(seconds=2)))
    posted = await client.post("/v1/events", json={"events": events})
    assert posted.status_code == 200 and posted.json()["accepted"] == len(events), posted.text
    return experiment


def _event(event_id: str, decision: str, creative: str, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "decision_id": decision,
        "creative_id": creative,
        "type": kind,
        "event_time": at.isoformat(),
    }


async def test_the_experiments_page_shows_the_readout_and_the_chart(
    server: str, sample_request: dict[str, Any]
) -> None:
    async with async_playwright() as playwright, httpx.AsyncClient(base_url=server, timeout=300) as client:
        experiment = await serve_and_report(client, sample_request)
        added = await client.post(
            f"/v1/experiments/{experiment['id']}/arms",
            json={"name": "plain", "template": "google_search@1", "adapter": None, "n": 2, "k": 1},
        )
        assert added.status_code == 201, added.text
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport=cast(Any, VIEWPORT))
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            await page.goto(f"{server}/ui/experiments")
            await page.get_by_test_id(f"experiment-{experiment['id']}").click()
            await expect(page.get_by_test_id("experiment-name")).to_have_text("Adapter vs base")
            await expect(page.get_by_test_id("arm-base")).to_contain_text("google_search@1 · base model")
            await expect(page.get_by_test_id("arm-house")).to_contain_text("google_search@1 · house")
            units = [
                int(await page.get_by_test_id(f"arm-{a}").locator("td").nth(2).inner_text())
                for a in ("base", "house")
            ]
            assert sum(units) == 6  # the added arm has served nobody yet
            await expect(page.get_by_test_id("srm")).to_contain_text("Sample ratio: p =")
            await expect(page.get_by_test_id("rule")).to_contain_text("always-valid")
            await expect(page.get_by_test_id("estimator")).to_contain_text("inverse-propensity")
            await expect(page.get_by_test_id("periods").locator("li")).to_have_count(2)
            await expect(page.get_by_test_id("period-2")).to_contain_text("arm added")
            lines = page.get_by_test_id("chart").locator("polyline")
            await expect(lines).to_have_count(sum(1 for u in units if u))
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
            assert problems == []  # no script errors, no CSP violations
        finally:
            await browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
