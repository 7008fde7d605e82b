from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.errors import validation_error_info
from core.schema import CreativeRequest


def test_issue_example_is_valid(sample_request: dict[str, Any]) -> None:
    request = CreativeRequest.model_validate(sample_request)
    assert request.profile.interests == ["trail running"]
    assert request.product.price == 89


@pytest.mark.parametrize(
    ("mutate", "param", "code"),
    [
        (lambda r: r["profile"].update(nickname="x"), "profile.nickname", "unknown_field"),
        (lambda r: r["product"].pop("name"), "product.name", "missing_field"),
        (lambda r: r["profile"].update(interests=["x"] * 21), "profile.interests", "invalid_value"),
        (lambda r: r["profile"].update(interests=["x" * 121]), "profile.interests.0", "invalid_value"),
        (lambda r: r.update(n=0), "n", "invalid_value"),
        (lambda r: r.update(seed=-1), "seed", "invalid_value"),
        (lambda r: r["product"].update(currency="dollars"), "product.currency", "invalid_value"),
        (lambda r: r["profile"].update(language="english!"), "profile.language", "invalid_value"),
    ],
)
def test_bad_fields_are_named(sample_request: dict[str, Any], mutate: Any, param: str, code: str) -> None:
    mutate(sample_request)
    with pytest.raises(ValidationError) as excinfo:
        CreativeRequest.model_validate(sample_request)
    info = validation_error_info(excinfo.value)
    assert info.param == param
    assert info.code == code
    assert info.type == "invalid_request_error"
    assert param in info.message
