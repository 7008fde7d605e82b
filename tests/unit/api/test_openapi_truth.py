"""The served OpenAPI document says what the server does: 400 (not 422), the settings' bounds, auth as
configured, and a 405 that lists every method of the path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from api.auth import new_key
from tests.fakes import FakeEngine
from tests.unit.api.support import distinct_copy, fake_app

SMALL = {"max_n": 2, "default_n": 2, "max_k": 2, "default_k": 1}


def served_document(**settings: Any) -> dict[str, Any]:
    """``GET /openapi.json`` of a fake-engine app with ``settings``."""
    with TestClient(fake_app(lambda s: FakeEngine(distinct_copy), **settings)) as client:
        document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("POST /v1/creatives", operation)`` for every operation."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_validation_errors_are_documented_as_400_with_the_error_body() -> None:
    document = served_document()
    assert "HTTPValidationError" not in json.dumps(document)
    for name, operation in operations(document):
        if "requestBody" in operation or operation.get("parameters"):
            assert {"400"} <= operation["responses"].keys(), name
        if "requestBody" in operation:
            assert "413" in operation["responses"], name
        if operation.get("security"):
            assert {"401", "403"} <= operation["responses"].keys(), name


def test_n_and_k_bounds_are_the_servers_limits() -> None:
    schemas = served_document(**SMALL)["components"]["schemas"]
    n = next(b for b in schemas["CreativeRequest"]["properties"]["n"]["anyOf"] if b.get("type") == "integer")
    k = next(b for b in schemas["CreativeRequest"]["properties"]["k"]["anyOf"] if b.get("type") == "integer")
    assert (n["maximum"], k["maximum"]) == (2, 2)
    preview_n = schemas["PreviewBody"]["properties"]["n"]
    assert preview_n["maximum"] == 2 and preview_n["default"] <= 2


def test_auth_is_optional_in_open_mode_and_required_with_keys() -> None:
    open_mode = dict(operations(served_document()))
    assert open_mode["POST /v1/creatives"]["security"] == [{"HTTPBearer": []}, {}]
    _, record = new_key("ci")
    with_keys = dict(operations(served_document(api_keys=[record])))
    assert with_keys["POST /v1/creatives"]["security"] == [{"HTTPBearer": []}]
    assert all({} not in op.get("security", []) for op in with_keys.values())


def test_a_405_lists_every_method_of_the_path() -> None:
    with TestClient(fake_app(lambda s: FakeEngine(distinct_copy))) as client:
        response = client.delete("/v1/adapters")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_preview_without_n_fits_a_small_max_n(sample_request: dict[str, Any]) -> None:
    app = fake_app(lambda s: FakeEngine(distinct_copy), **SMALL)
    sample = {key: sample_request[key] for key in ("profile", "product")}
    with TestClient(app) as client:
        client.portal.call(app.state.service.wait_ready)  # type: ignore[union-attr]
        response = client.post("/v1/templates/google_search/preview", json={"sample": sample})
    assert response.status_code == 200, response.text
    assert len(response.json()["variants"]) == 2
