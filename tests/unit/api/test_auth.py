"""API keys: hashed storage, constant-time match, scopes, revocation, open development mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.__main__ import main as api_main
from api.auth import ApiKeyRecord, AuthError, KeyRing, hash_key, new_key
from tests.unit.api.support import serving

GENERATE_KEY, GENERATE = new_key("campaign-tool", ["generate"])
EDITOR_KEY, EDITOR = new_key("editor", ["templates:write"])
OLD_KEY, OLD = new_key("old", ["generate"])
REVOKED = OLD.model_copy(update={"revoked": True})


def test_records_hold_only_the_hash() -> None:
    assert GENERATE.sha256 == hash_key(GENERATE_KEY) and GENERATE_KEY not in GENERATE.model_dump_json()


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        (None, 401, "missing_api_key"),
        ("Basic abc", 401, "missing_api_key"),
        ("Bearer nope", 401, "invalid_api_key"),
        (f"Bearer {OLD_KEY}", 401, "revoked_api_key"),
        (f"Bearer {EDITOR_KEY}", 403, "insufficient_scope"),
    ],
)
def test_keyring_refusals(header: str | None, status: int, code: str) -> None:
    ring = KeyRing([GENERATE, EDITOR, REVOKED])
    with pytest.raises(AuthError) as caught:
        ring.authorize(header, "generate")
    assert (caught.value.status, caught.value.code) == (status, code)


def test_keyring_accepts_a_key_with_the_scope_and_is_open_without_keys() -> None:
    assert KeyRing([GENERATE, EDITOR]).authorize(f"Bearer {GENERATE_KEY}", "generate") == GENERATE
    assert KeyRing([]).authorize(None, "generate") is None


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, "missing_api_key"),
        ("adc_wrong", 401, "invalid_api_key"),
        (OLD_KEY, 401, "revoked_api_key"),
        (EDITOR_KEY, 403, "insufficient_scope"),
        (GENERATE_KEY, 200, None),
    ],
)
async def test_creatives_route_checks_keys(
    sample_request: dict[str, Any], key: str | None, status: int, code: str | None
) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with serving(api_keys=[GENERATE, EDITOR, REVOKED]) as served:
        response = await served.client.post("/v1/creatives", json=sample_request, headers=headers)
        health = await served.client.get("/health")
    assert response.status_code == status, response.text
    if code:
        error = response.json()["error"]
        assert error["code"] == code and error["type"] in {"authentication_error", "permission_error"}
        assert served.engine.calls == []  # refused before any generation
    assert health.status_code == 200  # probes need no key


async def test_keys_from_a_file_and_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_request: dict[str, Any]
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([GENERATE.model_dump(mode="json")]))
    monkeypatch.setenv("ADCREATIVE_API_KEYS", json.dumps([REVOKED.model_dump(mode="json")]))
    async with serving(api_keys_file=path) as served:
        good = await served.client.post(
            "/v1/creatives", json=sample_request, headers={"Authorization": f"Bearer {GENERATE_KEY}"}
        )
        revoked = await served.client.post(
            "/v1/creatives", json=sample_request, headers={"Authorization": f"Bearer {OLD_KEY}"}
        )
    assert good.status_code == 200 and revoked.json()["error"]["code"] == "revoked_api_key"


def test_new_key_command_prints_a_usable_record(capsys: pytest.CaptureFixture[str]) -> None:
    assert api_main(["new-key", "--name", "ci", "--scope", "generate", "--scope", "templates:write"]) == 0
    out = capsys.readouterr()
    record = ApiKeyRecord.model_validate_json(out.out)
    key = out.err.strip().rsplit(" ", 1)[-1]
    assert record.scopes == ("generate", "templates:write")
    assert KeyRing([record]).authorize(f"Bearer {key}", "templates:write") == record
