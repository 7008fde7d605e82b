"""The template editor in a real headless Chromium (Debian's, through Playwright) on a real uvicorn server
with the real engine: edit, a 422 shown inline, preview with length badges, save, promote, roll back.

uvicorn runs as a task in the session event loop, because the session engine is bound to that loop.
Writes a full-page screenshot to ``tests/artifacts/template-editor.png`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import uvicorn
from playwright.async_api import Page, async_playwright, expect

from api.app import create_app
from api.settings import ApiSettings
from creative.engine import VllmEngine
from creative.settings import Settings
from tests.integration.api.test_api_real import BorrowedEngine
from tests.support.server import free_port

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SCREENSHOT = ARTIFACTS / "template-editor.png"
VIEWPORT = {"width": 1280, "height": 900}
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
EDITED_USER = "Product facts:\n{product}\nWho will see it:\n{profile}\nAnswer:"
ENGINE_TIMEOUT_MS = 180_000  # a preview on 2 CPU cores takes seconds; this is a hang guard


def chromium_path() -> str:
    """Debian's chromium (or ``ADCREATIVE_CHROMIUM``); a missing browser fails the test, never skips it."""
    path = os.environ.get("ADCREATIVE_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail(
            "chromium is missing: run `make browser` (apt-get install chromium) or set ADCREATIVE_CHROMIUM"
        )
    return path


@pytest.fixture
async def server(real_engine: VllmEngine, engine_settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """The API with the real engine on a free 127.0.0.1 port, served from the session loop."""
    settings = ApiSettings(
        **{**engine_settings.model_dump(), "templates_db_url": f"sqlite:///{tmp_path / 'templates.db'}"}
    )
    app = create_app(settings, engine_factory=lambda s: BorrowedEngine(real_engine))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(600):  # hang guard: bound within a minute
        if server.started or task.done():
            break
        await asyncio.sleep(0.1)
    assert server.started, "uvicorn did not start"
    await app.state.service.wait_ready()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=60)


async def resolved(client: httpx.AsyncClient, sample_request: dict[str, Any]) -> dict[str, Any]:
    """What a bare ``google_search`` request resolves to now (a real, small generation)."""
    body = {**sample_request, "template": "google_search", "n": 1, "k": 1, "seed": 1}
    response = await client.post("/v1/creatives", json=body)
    assert response.status_code == 200, response.text
    template: dict[str, Any] = response.json()["template"]
    return template


async def production_of(client: httpx.AsyncClient) -> int:
    labels = (await client.get("/v1/templates/google_search")).json()["labels"]
    version: int = labels["production"]
    return version


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


async def edit_preview_and_save(page: Page) -> None:
    """Pick google_search, show the inline 422, fix the text, preview on the real engine, save."""
    await page.get_by_test_id("template-google_search").click()
    user = page.get_by_test_id("user")
    await expect(user).to_have_value("Product:\n{product}\nAudience:\n{profile}\nAnswer:")

    await user.fill(EDITED_USER.replace("{product}", "{prodcut}"))
    await expect(page.get_by_test_id("var-prodcut")).to_have_attribute("data-state", "unknown")
    await page.get_by_test_id("message").fill("Typo on purpose")
    await page.get_by_test_id("save").click()
    error = page.get_by_test_id("save-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("{prodcut}")
    await expect(error).to_contain_text("did you mean {product}")
    await expect(user).to_have_class("invalid")

    await user.fill(EDITED_USER)
    await expect(page.get_by_test_id("var-product")).to_have_attribute("data-state", "declared")
    await page.get_by_test_id("preview-n").fill("2")
    await page.get_by_test_id("preview-seed").fill("11")
    await page.get_by_test_id("preview").click()
    await expect(page.get_by_test_id("variant")).to_have_count(2, timeout=ENGINE_TIMEOUT_MS)
    await expect(page.get_by_test_id("preview-summary")).to_contain_text("google_search (draft)")
    badges = page.get_by_test_id("badge")
    await expect(badges).to_have_count(4)  # headline + description of each variant
    for text in await badges.all_inner_texts():
        chars, limit = (int(part) for part in text.split("/"))
        assert limit in (30, 90) and chars >= 0
    assert "smollm2" in await page.get_by_test_id("preview-summary").inner_text()

    await page.get_by_test_id("message").fill("Name the facts and the audience explicitly")
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("status")).to_contain_text("Saved google_search@2")
    await expect(page.get_by_test_id("save-error")).to_be_hidden()


async def test_edit_preview_save_promote_and_roll_back_in_a_browser(
    server: str, sample_request: dict[str, Any]
) -> None:
    async with (
        async_playwright() as playwright,
        httpx.AsyncClient(base_url=server, timeout=300) as client,
    ):
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport=cast(Any, VIEWPORT))
            page_errors: list[str] = []
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            await page.goto(f"{server}/ui/templates")
            await expect(page.get_by_test_id("template-list")).to_contain_text("google_search")

            await edit_preview_and_save(page)
            assert await production_of(client) == 1  # saving never ships

            await page.get_by_test_id("promote-production-2").click()
            await expect(page.get_by_test_id("status")).to_contain_text(
                "Moved google_search:production to v2"
            )
            assert await production_of(client) == 2
            assert (await resolved(client, sample_request))["ref"] == "google_search@2"

            await page.get_by_test_id("promote-production-1").click()  # roll back
            await expect(page.get_by_test_id("status")).to_contain_text(
                "Rolled back google_search:production to v1"
            )
            assert await production_of(client) == 1
            rolled_back = await resolved(client, sample_request)
            assert rolled_back == {
                "name": "google_search",
                "version": 1,
                "ref": "google_search@1",
                "label": "production",
            }
            await page.get_by_test_id("label-history").evaluate("node => node.parentElement.open = true")
            await expect(page.get_by_test_id("label-history")).to_contain_text("v2 → v1")

            await page.get_by_test_id("diff").click()
            await expect(page.get_by_test_id("diff-output")).to_contain_text("+Who will see it:")
            await expect(page.get_by_test_id("diff-changed")).to_have_text("changed: user")

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
            assert page_errors == []
        finally:
            await browser.close()

    assert SCREENSHOT.stat().st_size > 10_000
    width, height = png_size(SCREENSHOT)
    assert width == VIEWPORT["width"] and height >= VIEWPORT["height"]
