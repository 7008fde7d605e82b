"""The template routes on a real SQLite registry (one per test) and the fake engine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from api.auth import new_key
from tests.unit.api.support import Served, serving

GENERATE_KEY, GENERATE = new_key("campaign-tool", ["generate"])
MARKETER_KEY, MARKETER = new_key("maria", ["generate", "templates:write"])
WRITE_ONLY_KEY, WRITE_ONLY = new_key("ci", ["templates:write"])

SAMPLE = {
    "profile": {"id": "u1", "interests": ["trail running"], "language": "en"},
    "product": {"name": "TrailRunner X", "brand": "Peak", "features": ["waterproof"], "price": 89},
}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh registry for the test (the shipped templates are imported on start)."""
    return f"sqlite:///{tmp_path / 'templates.db'}"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def draft_of(served: Served, name: str, version: int, **changes: Any) -> dict[str, Any]:
    """Version ``version``'s content as a draft based on it, with ``changes``."""
    current = (await served.client.get(f"/v1/templates/{name}/versions/{version}")).json()
    keys = ("description", "placements", "variables", "system", "user", "sampling")
    return {
        **{k: current[k] for k in keys},
        "base_version": version,
        "message": "edit",
        **changes,
    }


def edited_user(text: str = "Product facts:\n{product}\nAudience:\n{profile}\nAnswer:") -> dict[str, str]:
    return {"user": text}


async def test_list_and_get_templates_versions_and_labels(db_url: str) -> None:
    async with serving(templates_db_url=db_url) as served:
        listing = (await served.client.get("/v1/templates")).json()
        detail = (await served.client.get("/v1/templates/google_search")).json()
        versions = (await served.client.get("/v1/templates/google_search/versions")).json()["data"]
        one = (await served.client.get("/v1/templates/google_search/versions/1")).json()
    names = {t["name"]: t for t in listing["data"]}
    assert set(names) == {"email", "google_search", "meta_feed", "push"}
    assert names["google_search"]["labels"] == {"production": 1}
    assert names["google_search"]["latest_version"] == 1
    assert {"profile", "product", "fields", "language"} == set(listing["variables"])
    assert detail["versions"][0]["ref"] == "google_search@1" and detail["versions"][0]["labels"] == [
        "production"
    ]
    assert "system" not in detail["versions"][0]  # metadata only; the text is in /versions
    assert detail["label_history"][0]["label"] == "production"
    assert [v["version"] for v in versions] == [1]
    assert one["variables"] == sorted(one["variables"]) and "{product}" in one["user"]
    assert one["author"] and one["created_at"]


async def test_unknown_template_or_version_is_a_404(db_url: str) -> None:
    async with serving(templates_db_url=db_url) as served:
        responses = [
            await served.client.get("/v1/templates/nope"),
            await served.client.get("/v1/templates/google_search/versions/9"),
            await served.client.get("/v1/templates/google_search/diff?from=1&to=9"),
        ]
    for response in responses:
        assert response.status_code == 404, response.text
        assert response.json()["error"]["type"] == "not_found_error"


async def test_save_a_new_version_and_create_a_template(db_url: str) -> None:
    async with serving(templates_db_url=db_url) as served:
        body = await draft_of(served, "google_search", 1, **edited_user(), message="Say 'facts'")
        saved = await served.client.post("/v1/templates/google_search/versions", json=body)
        fresh = {**body, "base_version": None, "message": "A new one"}
        created = await served.client.post("/v1/templates/google_search_b/versions", json=fresh)
        listing = (await served.client.get("/v1/templates")).json()["data"]
    assert saved.status_code == 201, saved.text
    version = saved.json()
    assert (version["version"], version["ref"], version["author"]) == (2, "google_search@2", "anonymous")
    assert version["message"] == "Say 'facts'" and version["labels"] == []  # production stays on 1
    assert created.status_code == 201 and created.json()["ref"] == "google_search_b@1"
    assert {t["name"] for t in listing} >= {"google_search", "google_search_b"}


async def test_two_concurrent_saves_from_one_base_one_wins_one_is_409(db_url: str) -> None:
    async with serving(templates_db_url=db_url) as served:
        first = await draft_of(served, "push", 1, **edited_user("A: {product}\nB: {profile}"), message="a")
        second = await draft_of(served, "push", 1, **edited_user("B: {product}\nA: {profile}"), message="b")
        responses = await asyncio.gather(
            served.client.post("/v1/templates/push/versions", json=first),
            served.client.post("/v1/templates/push/versions", json=second),
        )
        versions = (await served.client.get("/v1/templates/push/versions")).json()["data"]
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409).json()["error"]
    assert loser["type"] == "conflict" and loser["code"] == "stale_version"
    assert loser["current_version"] == 2 and loser["param"] == "base_version"
    assert "version 2" in loser["message"]
    assert [v["version"] for v in versions] == [1, 2]  # no lost update, no duplicate


async def test_a_misspelt_variable_is_a_422_naming_it(db_url: str) -> None:
    async with serving(templates_db_url=db_url) as served:
        body = await draft_of(served, "google_search", 1, **edited_user("Product:\n{prodcut}\n{profile}"))
        response = await served.client.post("/v1/templates/google_search/versions", json=body)
        missing_message = await served.client.post(
            "/v1/templates/google_search/versions", json={**body, "message": ""}
        )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == "user" and error["type"] == "invalid_request_error"
    assert "{prodcut}" in error["message"] and "{product}" in error["message"]
    assert missing_message.status_code == 400 and missing_message.json()["error"]["param"] == "message"


async def test_promote_roll_back_and_a_stale_label_move(db_url: str, sample_request: dict[str, Any]) -> None:
    async with serving(templates_db_url=db_url) as served:
        client = served.client
        body = await draft_of(served, "google_search", 1, **edited_user())
        assert (await client.post("/v1/templates/google_search/versions", json=body)).status_code == 201
        promoted = await client.put(
            "/v1/templates/google_search/labels/production", json={"version": 2, "expected_version": 1}
        )
        on_two = (await client.post("/v1/creatives", json=sample_request)).json()["template"]
        stale = await client.put(
            "/v1/templates/google_search/labels/production", json={"version": 1, "expected_version": 1}
        )
        rolled_back = await client.put("/v1/templates/google_search/labels/production", json={"version": 1})
        on_one = (await client.post("/v1/creatives", json=sample_request)).json()["template"]
        history = (await client.get("/v1/templates/google_search")).json()["label_history"]
        bad_label = await client.put("/v1/templates/google_search/labels/Prod!", json={"version": 1})
        no_version = await client.put("/v1/templates/google_search/labels/production", json={"version": 7})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["previous_version"] == 1 and promoted.json()["author"] == "anonymous"
    assert on_two == {"name": "google_search", "version": 2, "ref": "google_search@2", "label": "production"}
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_label" and stale.json()["error"]["current_version"] == 2
    assert rolled_back.status_code == 200 and rolled_back.json()["previous_version"] == 2
    assert on_one["version"] == 1
    assert [(m["version"], m["previous_version"]) for m in history[:2]] == [(1, 2), (2, 1)]
    assert bad_label.status_code == 400 and bad_label.json()["error"]["param"] == "label"
    assert no_version.status_code == 404


async def test_a_request_naming_a_label_echoes_the_resolved_version(
    db_url: str, sample_request: dict[str, Any]
) -> None:
    async with serving(templates_db_url=db_url) as served:
        client = served.client
        body = await draft_of(served, "google_search", 1, **edited_user())
        await client.post("/v1/templates/google_search/versions", json=body)
        await client.put("/v1/templates/google_search/labels/staging", json={"version": 2})
        staging = await client.post(
            "/v1/creatives", json={**sample_request, "template": "google_search:staging"}
        )
        pinned = await client.post("/v1/creatives", json={**sample_request, "template": "google_search@2"})
        unknown = await client.post("/v1/creatives", json={**sample_request, "template": "google_search:qa"})
    assert staging.json()["template"] == {
        "name": "google_search",
        "version": 2,
        "ref": "google_search@2",
        "label": "staging",
    }
    assert pinned.json()["template"]["label"] is None and pinned.json()["template"]["version"] == 2
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "template"


async def test_diff_between_two_versions(db_url: str) -> None:
    async with serving(templates_db_url=db_url) as served:
        body = await draft_of(served, "google_search", 1, **edited_user())
        await served.client.post("/v1/templates/google_search/versions", json=body)
        response = await served.client.get("/v1/templates/google_search/diff", params={"from": 1, "to": 2})
        missing = await served.client.get("/v1/templates/google_search/diff", params={"from": 1})
    assert response.status_code == 200, response.text
    diff = response.json()
    assert diff["changed"] == ["user"] and (diff["from_version"], diff["to_version"]) == (1, 2)
    assert "-Product:" in diff["fields"]["user"] and "+Product facts:" in diff["fields"]["user"]
    assert "google_search@1" in diff["unified"] and "+Product facts:" in diff["unified"]
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "to"


async def test_scopes_read_needs_generate_and_write_needs_templates_write(db_url: str) -> None:
    keys = [GENERATE, MARKETER, WRITE_ONLY]
    async with serving(templates_db_url=db_url, api_keys=keys) as served:
        client = served.client
        anonymous = await client.get("/v1/templates")
        reader = await client.get("/v1/templates", headers=bearer(GENERATE_KEY))
        write_only_read = await client.get("/v1/templates", headers=bearer(WRITE_ONLY_KEY))
        body = await draft_of_with_key(served, GENERATE_KEY)
        refused = await client.post("/v1/templates/push/versions", json=body, headers=bearer(GENERATE_KEY))
        refused_label = await client.put(
            "/v1/templates/push/labels/staging", json={"version": 1}, headers=bearer(GENERATE_KEY)
        )
        saved = await client.post("/v1/templates/push/versions", json=body, headers=bearer(MARKETER_KEY))
        moved = await client.put(
            "/v1/templates/push/labels/staging", json={"version": 2}, headers=bearer(MARKETER_KEY)
        )
    assert anonymous.status_code == 401 and reader.status_code == 200
    assert write_only_read.status_code == 403
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    assert refused_label.status_code == 403
    assert saved.status_code == 201 and saved.json()["author"] == "maria"
    assert moved.status_code == 200 and moved.json()["author"] == "maria"


async def draft_of_with_key(served: Served, key: str) -> dict[str, Any]:
    current = (await served.client.get("/v1/templates/push/versions/1", headers=bearer(key))).json()
    keys = ("description", "placements", "variables", "system", "user", "sampling")
    return {**{k: current[k] for k in keys}, "base_version": 1, "message": "m", "user": "{product} {profile}"}


async def test_preview_a_saved_version_and_a_draft(db_url: str) -> None:
    async with serving(templates_db_url=db_url) as served:
        client = served.client
        saved = await client.post(
            "/v1/templates/google_search/preview", json={"sample": SAMPLE, "n": 2, "seed": 5}
        )
        draft = await draft_of(served, "google_search", 1, **edited_user())
        draft.pop("message")
        unsaved = await client.post(
            "/v1/templates/google_search/preview", json={"draft": draft, "sample": SAMPLE, "n": 3}
        )
        versions = (await client.get("/v1/templates/google_search/versions")).json()["data"]
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["template"] == {"name": "google_search", "version": 1, "ref": "google_search@1"}
    assert body["placement"] == "google_search" and body["counting"] == "google_width"
    assert [m["role"] for m in body["messages"]] == ["system", "user"] and body["prompt_tokens"] > 0
    assert len(body["variants"]) == 2 and body["valid"] == 2
    headline = body["variants"][0]["fields"]["headline"]
    assert headline == {
        "text": "Trail shoes that stay dry",
        "chars": 25,
        "min_chars": 3,
        "max_chars": 30,
        "within_limit": True,
    }
    assert served.engine.calls[0].n == 2 and served.engine.calls[0].seed == 5
    assert unsaved.status_code == 200, unsaved.text
    assert unsaved.json()["template"]["version"] is None
    assert "Product facts:" in unsaved.json()["messages"][1]["content"]
    assert len(versions) == 1  # a preview never saves


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"n": 17}, 400, "n"),
        ({"sample": {**SAMPLE, "placement": "push"}}, 400, "sample.placement"),
        ({"version": 4}, 404, "template"),
        (
            {
                "draft": {
                    "placements": ["google_search"],
                    "variables": ["profile"],
                    "system": "s {prodcut}",
                    "user": "{profile}",
                }
            },
            422,
            "draft.system",
        ),
        (
            {"version": 1, "draft": {"placements": ["x"], "variables": [], "system": "s", "user": "u"}},
            400,
            None,
        ),
    ],
)
async def test_preview_errors_name_the_field(
    db_url: str, change: dict[str, Any], status: int, param: str | None
) -> None:
    async with serving(templates_db_url=db_url) as served:
        response = await served.client.post(
            "/v1/templates/google_search/preview", json={"sample": SAMPLE, **change}
        )
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param
    assert served.engine.calls == []


async def test_the_editor_page_and_its_assets_are_served(db_url: str) -> None:
    async with serving(templates_db_url=db_url) as served:
        page = await served.client.get("/ui/templates")
        script = await served.client.get("/ui/static/editor.js")
        style = await served.client.get("/ui/static/editor.css")
        root = await served.client.get("/ui")
        missing = await served.client.get("/ui/static/nope.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'data-testid="template-list"' in page.text and "/ui/static/editor.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert style.status_code == 200 and root.status_code == 307
    assert missing.status_code == 404


async def test_an_unreachable_registry_database_is_a_503_not_a_500(db_url: str) -> None:
    from prompts.db import make_engine

    async with serving(templates_db_url=db_url) as served:
        registry = served.app.state.service.templates
        registry._sessions.configure(bind=make_engine("sqlite:////nonexistent-dir/templates.db"))
        listing = await served.client.get("/v1/templates")
        creative = await served.client.post(
            "/v1/creatives", json={**SAMPLE, "placement": "push", "template": "push:staging"}
        )
    for response in (listing, creative):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert response.json()["error"]["code"] == "registry_unavailable"
