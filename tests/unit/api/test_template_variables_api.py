"""A valid template edit never takes generation down: a version may use a subset of the request variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.errors import install_error_handlers
from prompts.template import TemplateError
from tests.unit.api.support import serving

SAMPLE = {
    "profile": {"id": "u1", "interests": ["trail running"], "language": "en"},
    "product": {"name": "TrailRunner X", "brand": "Peak", "features": ["waterproof"], "price": 89},
}
PRODUCT_ONLY = {
    "system": "You write short search ads. Answer with JSON only.",
    "user": "Product facts:\n{product}\nJSON:",
    "variables": ["product"],
}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'templates.db'}"


async def test_a_product_only_version_behind_production_generates(
    db_url: str, sample_request: dict[str, Any]
) -> None:
    async with serving(templates_db_url=db_url) as served:
        client = served.client
        current = (await client.get("/v1/templates/google_search/versions/1")).json()
        draft = {
            **{k: current[k] for k in ("description", "placements", "sampling")},
            **PRODUCT_ONLY,
            "base_version": 1,
            "message": "product facts only",
        }
        saved = await client.post("/v1/templates/google_search/versions", json=draft)
        moved = await client.put("/v1/templates/google_search/labels/production", json={"version": 2})
        response = await client.post("/v1/creatives", json=sample_request)
    assert saved.status_code == 201, saved.text
    assert moved.status_code == 200, moved.text
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["template"] == {
        "name": "google_search",
        "version": 2,
        "ref": "google_search@2",
        "label": "production",
    }
    assert body["variants"] and served.engine.calls


@pytest.mark.parametrize(
    "variables",
    [["product"], ["profile"], ["fields", "language"], []],
    ids=["product", "profile", "fields+language", "none"],
)
async def test_preview_a_subset_draft(db_url: str, variables: list[str]) -> None:
    user = "Write an ad. " + " ".join(f"{{{v}}}" for v in variables)
    draft = {
        "placements": ["google_search"],
        "variables": variables,
        "system": "You write short search ads.",
        "user": user,
    }
    async with serving(templates_db_url=db_url) as served:
        response = await served.client.post(
            "/v1/templates/google_search/preview", json={"draft": draft, "sample": SAMPLE, "n": 2}
        )
    assert response.status_code == 200, response.text
    assert response.json()["messages"][1]["content"].startswith("Write an ad.")


async def test_a_template_error_is_a_422_with_a_code_not_a_500() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise TemplateError("cannot render t@1: missing variables ['x']")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    assert response.status_code == 422
    assert response.json()["error"] == {
        "message": "cannot render t@1: missing variables ['x']",
        "type": "invalid_request_error",
        "param": "template",
        "code": "template_error",
    }
