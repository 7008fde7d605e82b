"""Adapters over HTTP: listing, authorized registration from allowed folders, and per-request choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.auth import new_key
from tests.unit.api.support import serving
from tests.unit.creative.test_adapters import make_adapter

ADMIN_KEY, ADMIN = new_key("ops", ["adapters:write"])
CLIENT_KEY, CLIENT = new_key("tool", ["generate"])


async def test_adapters_are_listed_chosen_per_request_and_default(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    make_adapter(tmp_path / "house", base=None)
    make_adapter(tmp_path / "playful", base=None)
    async with serving(adapters_dir=tmp_path, default_adapter="house") as served:
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
    make_adapter(allowed / "new-voice", base=None)
    make_adapter(elsewhere / "sneaky", base=None)
    settings = {"adapters_dir": tmp_path / "none", "adapter_roots": [allowed], "api_keys": [ADMIN, CLIENT]}
    async with serving(**settings) as served:
        client = served.client

        async def register(key: str, name: str, path: Path) -> Any:
            body = {"name": name, "path": str(path)}
            return await client.post("/v1/adapters", json=body, headers={"Authorization": f"Bearer {key}"})

        forbidden = await register(CLIENT_KEY, "new-voice", allowed / "new-voice")
        outside = await register(ADMIN_KEY, "sneaky", elsewhere / "sneaky")
        created = await register(ADMIN_KEY, "new-voice", allowed / "new-voice")
        listing = (await client.get("/v1/adapters")).json()
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "insufficient_scope"
    assert outside.status_code == 400 and outside.json()["error"]["code"] == "path_not_allowed"
    assert created.status_code == 201 and created.json()["name"] == "new-voice"
    assert [a["name"] for a in listing["data"]] == ["new-voice"]
