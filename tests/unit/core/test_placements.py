from __future__ import annotations

import pytest

from core.placements import PLACEMENTS, UnknownPlacementError, count_chars, get_placement


@pytest.mark.parametrize(
    ("name", "limits"),
    [
        ("google_search", {"headline": 30, "description": 90}),
        ("meta_feed", {"primary_text": 125, "headline": 40, "description": 30}),
        ("push", {"title": 50, "body": 120}),
        ("email", {"subject": 60, "preheader": 100}),
    ],
)
def test_published_limits(name: str, limits: dict[str, int]) -> None:
    placement = get_placement(name)
    assert {f.name: f.max_chars for f in placement.fields} == limits


def test_unknown_placement_lists_the_known_ones() -> None:
    with pytest.raises(UnknownPlacementError, match="google_search"):
        get_placement("billboard")


def test_google_counts_wide_characters_double() -> None:
    assert count_chars("Shoes", "google_width") == 5
    assert count_chars("靴セール", "google_width") == 8  # CJK ideograph + katakana: 2 each
    assert count_chars("ＡＢ", "google_width") == 4  # full-width Latin
    assert count_chars("靴セール", "graphemes") == 4


def test_graphemes_count_user_perceived_characters() -> None:
    assert count_chars("cafe\u0301", "graphemes") == 4  # e + combining accent is one character
    assert count_chars("🇺🇸 go", "graphemes") == 4  # a flag is one character
    assert count_chars("👍🏽", "graphemes") == 1


def test_json_schema_has_every_field_with_max_length() -> None:
    for placement in PLACEMENTS.values():
        schema = placement.json_schema()
        assert schema["additionalProperties"] is False
        assert schema["required"] == [f.name for f in placement.fields]
        for spec in placement.fields:
            assert schema["properties"][spec.name]["maxLength"] == spec.max_chars
            assert schema["properties"][spec.name]["type"] == "string"
