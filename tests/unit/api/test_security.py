"""Fail closed: open mode only on purpose, trusted hosts, scopes for drafts and adapters, quiet /health."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement

from api.__main__ import main as api_main
from api.app import create_app
from api.auth import KeyRing, new_key
from api.security import OPEN_MODE_WARNING, StartupRefusedError, allowed_hosts, host_name, is_loopback
from api.settings import ApiSettings
from tests.unit.api.support import fake_app, serving

ROOT = Path(__file__).resolve().parents[3]
GENERATE_KEY, GENERATE = new_key("campaign-tool", ["generate"])
MARKETER_KEY, MARKETER = new_key("maria", ["generate", "templates:write"])
SAMPLE = {
    "profile": {"id": "u1", "interests": ["trail running"], "language": "en"},
    "product": {"name": "TrailRunner X", "brand": "Peak", "features": ["waterproof"], "price": 89},
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# Open mode ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "api.example.com"])
def test_a_non_loopback_host_without_keys_refuses_to_start(host: str) -> None:
    with pytest.raises(StartupRefusedError, match="ADCREATIVE_ALLOW_OPEN=true"):
        create_app(ApiSettings(host=host))


def test_an_explicitly_empty_key_list_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADCREATIVE_API_KEYS", "[]")
    with pytest.raises(StartupRefusedError, match="ADCREATIVE_API_KEYS is an empty list"):
        create_app(ApiSettings())


@pytest.mark.parametrize("content", ["", "[]", "  \n"])
def test_an_empty_key_file_refuses_to_start(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(StartupRefusedError, match="holds no keys"):
        create_app(ApiSettings(api_keys_file=path))


def test_a_bad_key_file_is_a_clear_refusal(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('[{"name": "x"}]')
    with pytest.raises(
        StartupRefusedError, match=r"not a JSON list of key records \(0.sha256: Field required"
    ):
        create_app(ApiSettings(api_keys_file=path))
    with pytest.raises(StartupRefusedError, match="cannot read the API key file"):
        create_app(ApiSettings(api_keys_file=tmp_path / "missing.json"))


async def test_open_on_purpose_starts_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="api.security"):
        async with serving(host="0.0.0.0", allow_open=True) as public:
            assert (await public.client.get("/v1/templates")).status_code == 200
        async with serving(api_keys=[], allow_open=True):
            pass
    assert [r.getMessage() for r in caplog.records].count(OPEN_MODE_WARNING) == 2


async def test_loopback_without_keys_starts_open_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="api.security"):
        async with serving(host="127.0.0.1") as served:
            assert not served.app.state.service.keys.enabled
    assert [r.getMessage() for r in caplog.records] == [OPEN_MODE_WARNING]


async def test_keys_on_a_public_host_start_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="api.security"):
        async with serving(host="0.0.0.0", api_keys=[GENERATE]) as served:
            assert served.app.state.service.keys.enabled
    assert not caplog.records


def test_python_m_api_refuses_with_a_message_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    monkeypatch.setenv("ADCREATIVE_HOST", "0.0.0.0")
    monkeypatch.setenv("ADCREATIVE_LOG_FORMAT", "text")
    with pytest.raises(SystemExit) as caught:
        api_main([])
    assert caught.value.code == 2 and served == []
    assert "refusing to start" in capsys.readouterr().err


def test_the_same_key_twice_is_refused_at_load() -> None:
    revoked_copy = GENERATE.model_copy(update={"name": "old-copy", "revoked": True})
    with pytest.raises(ValueError, match="same API key is configured more than once"):
        KeyRing([revoked_copy, GENERATE])
    with pytest.raises(StartupRefusedError, match="'old-copy' and 'campaign-tool'"):
        create_app(ApiSettings(api_keys=[revoked_copy, GENERATE]))


def test_loopback_names() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))


# Trusted hosts -----------------------------------------------------------------------------------


def test_allowed_hosts_add_the_bound_host_but_not_a_wildcard() -> None:
    defaults = ["localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts(ApiSettings(allowed_hosts=defaults)) == defaults
    assert (
        allowed_hosts(ApiSettings(allowed_hosts=defaults, host="10.0.0.5", allow_open=True))[-1] == "10.0.0.5"
    )
    assert allowed_hosts(ApiSettings(allowed_hosts=defaults, host="0.0.0.0", allow_open=True)) == defaults
    assert allowed_hosts(ApiSettings(allowed_hosts=[], host="fe80::1", allow_open=True)) == ["[fe80::1]"]
    assert [host_name(h) for h in ("LocalHost:8000", "[::1]:8000", "[::1]", "")] == [
        "localhost",
        "[::1]",
        "[::1]",
        "",
    ]


def test_the_default_allowed_hosts_are_loopback_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADCREATIVE_ALLOWED_HOSTS", raising=False)  # tests/conftest.py adds test clients
    assert ApiSettings().allowed_hosts == ["localhost", "127.0.0.1", "[::1]"]


async def test_a_foreign_host_header_is_refused_before_any_route() -> None:
    """DNS rebinding: a page at evil.example resolving to 127.0.0.1 sends `Host: evil.example`."""
    hosts = ["localhost", "127.0.0.1", "[::1]", "*.corp.example"]
    async with serving(allowed_hosts=hosts) as served:
        client = served.client
        answers = {
            host: await client.get("/v1/templates", headers={"host": host})
            for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "ads.corp.example", "evil.example")
        }
        moved = await client.put(
            "/v1/templates/push/labels/production", json={"version": 1}, headers={"host": "evil.example:8000"}
        )
        health = await client.get("/health", headers={"host": "10.1.2.3:8000"})  # probes use the pod IP
    assert {host: r.status_code for host, r in answers.items()} == {
        "localhost:8000": 200,
        "127.0.0.1:8000": 200,
        "[::1]:8000": 200,
        "ads.corp.example": 200,
        "evil.example": 400,
    }
    assert answers["evil.example"].json()["error"]["code"] == "untrusted_host"
    assert moved.status_code == 400 and moved.json()["error"]["param"] == "Host"
    assert health.status_code == 200


# Scopes --------------------------------------------------------------------------------------------


async def test_previewing_a_draft_needs_templates_write(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'templates.db'}"
    draft = {"placements": ["google_search"], "variables": ["product"], "system": "Ads.", "user": "{product}"}
    async with serving(templates_db_url=db, api_keys=[GENERATE, MARKETER]) as served:
        client = served.client
        url = "/v1/templates/google_search/preview"
        refused = await client.post(
            url, json={"draft": draft, "sample": SAMPLE, "n": 1}, headers=bearer(GENERATE_KEY)
        )
        calls_after_refusal = len(served.engine.calls)
        saved = await client.post(url, json={"sample": SAMPLE, "n": 1}, headers=bearer(GENERATE_KEY))
        allowed = await client.post(
            url, json={"draft": draft, "sample": SAMPLE, "n": 1}, headers=bearer(MARKETER_KEY)
        )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    assert "templates:write" in refused.json()["error"]["message"] and calls_after_refusal == 0
    assert saved.status_code == 200, saved.text
    assert allowed.status_code == 200, allowed.text


async def test_listing_adapters_needs_a_generate_key_once_keys_are_configured() -> None:
    async with serving(api_keys=[GENERATE]) as served:
        anonymous = await served.client.get("/v1/adapters")
        with_key = await served.client.get("/v1/adapters", headers=bearer(GENERATE_KEY))
    async with serving() as served:
        open_mode = await served.client.get("/v1/adapters")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "missing_api_key"
    assert with_key.status_code == 200 and open_mode.status_code == 200


# Health and content type ---------------------------------------------------------------------------


async def test_health_and_503_never_echo_exception_text_or_paths(sample_request: dict[str, Any]) -> None:
    def failing_engine(_: Any) -> Any:
        raise FileNotFoundError("/srv/secret/models/llama: config.json missing (password=hunter2)")

    app = fake_app(failing_engine)
    async with app.router.lifespan_context(app):
        await app.state.service.wait_ready()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            health = await client.get("/health")
            generate = await client.post("/v1/creatives", json=sample_request)
    assert health.status_code == 503 and health.json()["status"] == "failed"
    assert generate.status_code == 503
    for text in (health.text, generate.text):
        assert "/srv/secret" not in text and "hunter2" not in text and "config.json" not in text
    assert "see the server log" in health.json()["error"]


@pytest.mark.parametrize("headers", [{"content-type": "text/plain"}, {}])
async def test_a_json_body_without_a_json_content_type_is_refused(
    sample_request: dict[str, Any], headers: dict[str, str]
) -> None:
    """A browser may POST text/plain (or a Blob with no type) cross-site without a CORS preflight."""
    async with serving() as served:
        response = await served.client.post(
            "/v1/creatives", content=json.dumps(sample_request), headers=headers
        )
    assert response.status_code == 400, response.text
    assert served.engine.calls == []


def test_the_fastapi_floor_has_strict_content_type_checking() -> None:
    """FastAPI 0.132.0 made the JSON Content-Type check strict (and added `strict_content_type`)."""
    import tomllib

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    [fastapi] = [Requirement(d) for d in dependencies if Requirement(d).name == "fastapi"]
    assert not fastapi.specifier.contains("0.131.9") and fastapi.specifier.contains("0.132.0")
