"""Adapters over HTTP: listing, authorized registration from allowed folders, and per-request choice."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import new_key
from tests.unit.api.support import serving
from tests.unit.creative.adapter_support import MALFORMED, make_adapter, served_base

ADMIN_KEY, ADMIN = new_key("ops", ["adapters:write"])
CLIENT_KEY, CLIENT = new_key("tool", ["generate"])


async def test_adapters_are_listed_chosen_per_request_and_default(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    make_adapter(tmp_path / "house", base=served_base())
    make_adapter(tmp_path / "playful", base=served_base())
    async with serving(shipped_adapters=False, adapters_dir=tmp_path, default_adapter="house") as served:
        listing = (await served.client.get("/v1/adapters")).json()
        default = await served.client.post("/v1/creatives", json=sample_request)
        chosen = await served.client.post("/v1/creatives", json={**sample_request, "adapter": "playful"})
        base = await served.client.post("/v1/creatives", json={**sample_request, "adapter": None})
        unknown = await served.client.post("/v1/creatives", json={**sample_request, "adapter": "nope"})
    assert listing["default"] == "house" and [a["name"] for a in listing["data"]] == ["house", "playful"]
    assert [default.json()["adapter"], chosen.json()["adapter"], base.json()["adapter"]] == [
        "house",
        "playful",
        None,
    ]
    used = [spec.adapter.name if spec.adapter else None for spec in served.engine.calls]
    assert used == ["house", "playful", None]
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "adapter"


async def test_runtime_registration_needs_the_scope_and_an_allowed_folder(tmp_path: Path) -> None:
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    make_adapter(allowed / "new-voice", base=served_base())
    make_adapter(elsewhere / "sneaky", base=served_base())
    settings: dict[str, Any] = {
        "adapters_dir": tmp_path / "none",
        "shipped_adapters": False,
        "adapter_roots": [allowed],
        "api_keys": [ADMIN, CLIENT],
    }
    async with serving(**settings) as served:
        client = served.client

        async def register(key: str, name: str, path: Path) -> Any:
            body = {"name": name, "path": str(path)}
            return await client.post("/v1/adapters", json=body, headers={"Authorization": f"Bearer {key}"})

        forbidden = await register(CLIENT_KEY, "new-voice", allowed / "new-voice")
        outside = await register(ADMIN_KEY, "sneaky", elsewhere / "sneaky")
        created = await register(ADMIN_KEY, "new-voice", allowed / "new-voice")
        anonymous_listing = await client.get("/v1/adapters")
        listing = (await client.get("/v1/adapters", headers={"Authorization": f"Bearer {CLIENT_KEY}"})).json()
    assert anonymous_listing.status_code == 401  # keys configured: listing needs `generate`
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "insufficient_scope"
    assert outside.status_code == 400 and outside.json()["error"]["code"] == "path_not_allowed"
    assert created.status_code == 201 and created.json()["name"] == "new-voice"
    assert [a["name"] for a in listing["data"]] == ["new-voice"]


async def test_a_malformed_adapter_is_a_400_naming_the_field_and_the_listing_keeps_working(
    tmp_path: Path,
) -> None:
    allowed = tmp_path / "allowed"
    make_adapter(allowed / "good", base=served_base())
    for i, (breaks, _, _) in enumerate(MALFORMED.values()):
        breaks(make_adapter(allowed / f"bad{i:02d}", base=served_base()))
    settings: dict[str, Any] = {
        "adapters_dir": allowed,
        "shipped_adapters": False,
        "default_adapter": None,
        "api_keys": [ADMIN, CLIENT],
    }
    async with serving(**settings) as served:  # the start-up scan skips every bad folder
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        answers = [
            await served.client.post(
                "/v1/adapters", json={"name": f"b{i}", "path": str(allowed / f"bad{i:02d}")}, headers=headers
            )
            for i in range(len(MALFORMED))
        ]
        listing = await served.client.get("/v1/adapters", headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    for (case, (_, code, named)), answer in zip(MALFORMED.items(), answers, strict=True):
        assert answer.status_code == 400, (case, answer.text)
        error = answer.json()["error"]
        assert error["code"] == code and named in error["message"] and error["param"] == "path", (case, error)
    assert listing.status_code == 200 and [a["name"] for a in listing.json()["data"]] == ["good"]


async def test_registration_while_lora_is_off_is_a_clear_400(tmp_path: Path) -> None:
    make_adapter(tmp_path / "house", base=served_base())
    async with serving(shipped_adapters=False, adapters_dir=tmp_path, enable_lora=False) as served:
        answer = await served.client.post(
            "/v1/adapters", json={"name": "house", "path": str(tmp_path / "house")}
        )
        listing = (await served.client.get("/v1/adapters")).json()
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "lora_disabled"
    assert listing == {"object": "list", "default": None, "data": []}


async def test_a_response_that_fails_its_own_schema_is_a_logged_500_not_a_400(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    make_adapter(tmp_path / "house", base=served_base())
    async with serving(shipped_adapters=False, adapters_dir=tmp_path) as served:
        adapter = served.app.state.service.adapters.all()[0]
        monkeypatch.setattr(type(adapter), "describe", lambda self: {"name": self.name, "rank": "wide"})
        transport = httpx.ASGITransport(app=served.app, raise_app_exceptions=False)  # as uvicorn serves it
        async with httpx.AsyncClient(transport=transport, base_url=served.client.base_url) as client:
            with caplog.at_level(logging.ERROR, logger="api.errors"):
                answer = await client.get("/v1/adapters")
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "internal"
    assert any(r.getMessage() == "unhandled error" and r.exc_info for r in caplog.records)
