"""The committed ``openapi.json`` matches the live schema, and fuzzing it finds no server error."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.python.asgi import get_client

from api.__main__ import OPENAPI_PATH, openapi_document
from tests.fakes import FakeEngine
from tests.unit.api.support import distinct_copy, fake_app

FUZZ_EXAMPLES = 500


def test_committed_openapi_matches_the_app() -> None:
    committed = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    live = json.loads(openapi_document())
    assert committed == live, "the API schema changed: run `.venv/bin/python -m api openapi` and commit it"


def test_fuzzed_requests_never_get_a_server_error(tmp_path: Path) -> None:
    # Its own registry: fuzzed saves and label moves must not reach other tests' templates.
    app = fake_app(lambda s: FakeEngine(distinct_copy), templates_db_url=f"sqlite:///{tmp_path / 't.db'}")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    client = get_client(cast(Any, app))
    for _ in range(500):  # the lifespan runs on schemathesis' portal thread; wait until the engine is up
        if client.get("/health").status_code == 200:
            break
        time.sleep(0.01)
    else:
        pytest.fail(f"the fake engine was not ready after 5 s: {client.get('/health').text}")
    statuses: list[int] = []
    operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {"POST /v1/creatives", "GET /metrics"}

    runs = [
        (op, GenerationMode.POSITIVE, FUZZ_EXAMPLES if op.path == "/v1/creatives" else 20)
        for op in operations
    ]
    # Negative cases on every method with an input (bodies for POST and PUT, path and query parameters).
    paths = app.openapi()["paths"]
    inputs = {"parameters", "requestBody"}
    with_inputs = [op for op in operations if inputs & paths[op.path][op.method].keys()]
    runs += [(op, GenerationMode.NEGATIVE, 200 if op.method.upper() == "POST" else 30) for op in with_inputs]
    for operation, mode, examples in runs:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            response = case.call(session=client)
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.as_curl_command(), response.text)

        fuzz()
    assert len(statuses) >= FUZZ_EXAMPLES
    assert statuses.count(200) > 50 and statuses.count(400) > 50  # valid and invalid requests both ran
