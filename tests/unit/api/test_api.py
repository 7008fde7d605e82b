"""API layer with a fake engine: routing, error bodies, readiness. The real engine is in integration/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creative.settings import Settings
from tests.fakes import FakeEngine
from tests.unit.api.support import distinct_copy, fake_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = fake_app(lambda s: FakeEngine(distinct_copy))
    with TestClient(app) as test_client:
        test_client.portal.call(app.state.service.wait_ready)  # type: ignore[union-attr]
        yield test_client


def test_health_ready(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "model": "fake-model"}


def test_creatives_returns_the_top_k_ranked(client: TestClient, sample_request: dict[str, Any]) -> None:
    response = client.post("/v1/creatives", json=sample_request)
    assert response.status_code == 200
    body = response.json()
    assert body["ranked"] is True and body["k"] == 3 and body["stats"]["returned"] == 8
    assert [v["score"]["rank"] for v in body["variants"]] == [1, 2, 3]
    scores = [v["score"]["score"] for v in body["variants"]]
    assert scores == sorted(scores, reverse=True)
    assert {"generate_s", "rank_s"} <= body["timings"].keys()
    assert body["template"] == {
        "name": "google_search",
        "version": 1,
        "ref": "google_search@1",
        "label": "production",
    }
    assert (
        body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


@pytest.mark.parametrize(
    ("mutate", "param", "code"),
    [
        (lambda r: r["profile"].update(age=5), "profile.age", "invalid_value"),
        (lambda r: r.update(surprise=1), "surprise", "unknown_field"),
        (lambda r: r.pop("product"), "product", "missing_field"),
        (lambda r: r.update(placement="tv"), "placement", "unknown_placement"),
        (lambda r: r.update(n=200), "n", "invalid_value"),
        (lambda r: r.update(n=17), "n", "limit_exceeded"),
        (lambda r: r.update(temperature=False), "temperature", "invalid_value"),  # not greedy decoding
        (lambda r: r.update(n=True), "n", "invalid_value"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    client: TestClient, sample_request: dict[str, Any], mutate: Any, param: str, code: str
) -> None:
    mutate(sample_request)
    response = client.post("/v1/creatives", json=sample_request)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and error["code"] == code and error["type"] == "invalid_request_error"


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post("/v1/creatives", content=b"{oops", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_unknown_route_is_an_openai_style_404(client: TestClient) -> None:
    response = client.get("/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_health_is_503_while_the_engine_starts(sample_request: dict[str, Any]) -> None:
    release = threading.Event()

    def slow_factory(settings: Settings) -> FakeEngine:
        release.wait(timeout=30)
        return FakeEngine(distinct_copy)

    app = fake_app(slow_factory)
    with TestClient(app) as test_client:
        assert test_client.get("/health").status_code == 503
        response = test_client.post("/v1/creatives", json=sample_request)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "engine_not_ready"
        assert response.headers["retry-after"]
        release.set()
        test_client.portal.call(app.state.service.wait_ready)  # type: ignore[union-attr]
        assert test_client.get("/health").status_code == 200


def test_failed_engine_start_is_reported() -> None:
    def broken(settings: Settings) -> FakeEngine:
        raise FileNotFoundError("no model at /nowhere")

    app = fake_app(broken)
    with TestClient(app) as test_client:
        test_client.portal.call(app.state.service.wait_ready)  # type: ignore[union-attr]
        response = test_client.get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "failed"
        error = response.json()["error"]
        assert "FileNotFoundError" in error and "/nowhere" not in error  # no exception text or paths
