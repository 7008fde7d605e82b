"""Closing a field before its limit: the field being written, the token tables and the per-request step."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from creative.engine import SamplingSpec, copy_extra_args
from creative.word_fit import SLACK, FieldFit, FitTables, open_field


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('{"headline": "Warm feet', ("headline", 9)),
        ('{"headline":"Warm, dry", "description": "Go', ("description", 2)),
        ('{"headline": "Say \\"hi', ("headline", 7)),  # an escaped quote is one character of the value
        ('{"headline": "Warm feet"', None),  # closed
        ('{"headline', None),  # inside a key
        ('{"headline": ', None),
        ("", None),
    ],
)
def test_the_open_field_and_its_length(text: str, found: tuple[str, int] | None) -> None:
    assert open_field(text) == found


PIECES = {0: '"', 1: " Nur", 2: " Nursing", 3: " for", 4: ".", 5: "sing", 6: " shoes", 7: " shoes.", 8: "s"}


class FakeTokenizer:
    def __init__(self, text: str):
        self.text = text

    def decode(self, ids: list[int]) -> str:
        return self.text


def _possible(text: str, limit: int) -> set[str]:
    step = FieldFit({"headline": limit}, FitTables.from_pieces(PIECES, len(PIECES)), FakeTokenizer(text))
    logits = step([1], torch.zeros(len(PIECES)))
    return {PIECES[i] for i, value in enumerate(logits.tolist()) if math.isfinite(value)}


def test_with_room_nothing_is_dropped() -> None:
    assert _possible('{"headline": "Warm', 40) == set(PIECES.values())


def test_a_fragment_or_connector_needs_room_to_be_finished() -> None:
    text = '{"headline": "Warm'  # 4 characters written
    room = 4 + len(" Nur") + SLACK - 1  # one character short of finishing "Nur…" comfortably
    assert " Nur" not in _possible(text, room) and " for" not in _possible(text, room)
    assert " Nursing" in _possible(text, room) and " shoes" in _possible(text, room)  # whole words that fit
    assert " Nur" in _possible(text, room + 1)


def test_a_token_may_not_fill_the_field_unless_it_ends_the_copy() -> None:
    text = '{"headline": "Warm'
    full = 4 + len(" shoes")
    assert " shoes" not in _possible(text, full)  # "Warm shoes" would end the field at its limit
    assert " shoes" in _possible(text, full + 1)
    assert " shoes." in _possible(text, 4 + len(" shoes."))  # closing punctuation may reach the limit
    assert '"' in _possible(text, 5)  # closing the field is always left to the grammar


def test_outside_a_limited_field_or_without_any_other_choice_nothing_changes() -> None:
    assert _possible('{"headline": "Warm"', 5) == set(PIECES.values())
    step = FieldFit(
        {"headline": 6}, FitTables.from_pieces(PIECES, len(PIECES)), FakeTokenizer('{"headline": "Warm')
    )
    only_fragment = torch.full((len(PIECES),), -math.inf)
    only_fragment[1] = 0.0  # the grammar left " Nur" alone possible
    assert torch.equal(step([1], only_fragment), only_fragment)


def test_a_failing_step_costs_a_cut_word_never_the_engine(caplog: pytest.LogCaptureFixture) -> None:
    broken = FieldFit({"headline": 6}, FitTables.from_pieces(PIECES, len(PIECES)), object())  # no decode()
    logits = torch.zeros(len(PIECES))
    with caplog.at_level(logging.ERROR, logger="creative.word_fit"):
        assert torch.equal(broken([1], logits), torch.zeros(len(PIECES)))
        broken([1], logits)
    assert len(caplog.records) == 1


def test_a_request_asks_for_its_names_and_its_fields_limits() -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string", "maxLength": 50}, "x": {"type": "string"}},
    }
    spec = SamplingSpec(n=1, seed=None, temperature=0.8, top_p=0.95, max_tokens=8, json_schema=schema)
    assert copy_extra_args(spec) == {}
    spec = SamplingSpec(
        n=1,
        seed=None,
        temperature=0.8,
        top_p=0.95,
        max_tokens=8,
        json_schema=schema,
        exact_names=("A",),
        fit_words=True,
    )
    assert copy_extra_args(spec) == {
        "adcreative_exact_names": ["A"],
        "adcreative_field_limits": {"title": 50},
    }
