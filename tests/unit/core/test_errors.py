"""The one error contract: each error class carries its status, type, code and param; one pydantic mapper."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import AuthError
from api.cancellation import ClientDisconnectedError
from api.limits import OverloadedError
from core.arms import Arm
from core.errors import CreativeInputError, ServiceError
from core.schema import ErrorInfo
from creative.batch.arms import ResolvedArm
from creative.batch.work import build_request
from creative.engine import EngineNotReadyError
from prompts.models import StaleLabelError, StaleVersionError, TemplateValidationError
from prompts.refs import TemplateNotFoundError, TemplateRefError
from prompts.template import TemplateError
from tests.fakes import FakeEngine
from tests.unit.api.support import distinct_copy, fake_app


@pytest.mark.parametrize(
    ("error", "status", "kind", "code", "param", "headers"),
    [
        (CreativeInputError("n too big", param="n"), 400, "invalid_request_error", "invalid_value", "n", {}),
        (TemplateNotFoundError("no such"), 404, "not_found_error", "template_not_found", "template", {}),
        (TemplateRefError("bad ref"), 400, "invalid_request_error", "invalid_template_ref", "template", {}),
        (TemplateError("cannot render"), 422, "invalid_request_error", "template_error", "template", {}),
        (
            TemplateValidationError("x", "user", "unknown_variable"),
            422,
            "invalid_request_error",
            "unknown_variable",
            "user",
            {},
        ),
        (StaleVersionError("saved meanwhile", 3), 409, "conflict", "stale_version", "base_version", {}),
        (StaleLabelError("moved meanwhile", 2), 409, "conflict", "stale_label", "expected_version", {}),
        (
            EngineNotReadyError("starting"),
            503,
            "service_unavailable",
            "engine_not_ready",
            None,
            {"Retry-After": "5"},
        ),
        (OverloadedError(7), 429, "rate_limit_error", "overloaded", None, {"Retry-After": "7"}),
        (
            AuthError(401, "no key", "missing_api_key"),
            401,
            "authentication_error",
            "missing_api_key",
            None,
            {"WWW-Authenticate": "Bearer"},
        ),
        (
            AuthError(403, "no scope", "insufficient_scope"),
            403,
            "permission_error",
            "insufficient_scope",
            None,
            {},
        ),
        (ClientDisconnectedError(), 499, "invalid_request_error", "client_disconnected", None, {}),
    ],
)
def test_each_error_says_its_status_and_body(
    error: ServiceError, status: int, kind: str, code: str, param: str | None, headers: dict[str, str]
) -> None:
    assert isinstance(error, ServiceError)
    assert error.status == status and error.headers() == headers
    body = error.body()
    assert (body["type"], body["code"], body["param"]) == (kind, code, param)
    assert body["message"] == str(error)
    if isinstance(error, StaleVersionError | StaleLabelError):
        assert body["current_version"] == error.current


def test_the_api_and_the_batch_name_a_bad_field_alike(sample_request: dict[str, Any]) -> None:
    sample_request["profile"]["interests"] = ["ok", "x" * 500]
    app = fake_app(lambda s: FakeEngine(distinct_copy))
    with TestClient(app) as client:
        client.portal.call(app.state.service.wait_ready)  # type: ignore[union-attr]
        answer = client.post("/v1/creatives", json=sample_request)
    assert answer.status_code == 400
    api_error = answer.json()["error"]
    placement = sample_request["placement"]
    batch_error = build_request(
        sample_request, ResolvedArm(Arm(name="a"), {placement: f"{placement}@1"}, None)
    )
    assert isinstance(batch_error, ErrorInfo)
    assert api_error["param"] == batch_error.param == "profile.interests.1"
    assert api_error["code"] == batch_error.code == "invalid_value"
