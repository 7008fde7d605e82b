"""Finishing a begun product or brand name during decoding (the logits processor's per-request step)."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from creative.name_decoding import EXTRA_ARG, ExactNames, NameContinuation, TokenPieces
from creative.settings import Settings

NAMES = ExactNames.of(
    ["Nimbus Noise-Cancelling Headphones", "Noise-Cancelling", "Halcourt", "Cloudstep Shift"]
)


@pytest.mark.parametrize(
    ("text", "rests", "word_done"),
    [
        ('{"headline": "Nimbus Noise-Can', {"celling"}, False),  # mid-word past the first word: finish it
        ("for the Nimbus N", {"oise-Cancelling"}, False),  # only to the end of the word, not the name
        ("by Halc", {"ourt"}, False),  # 4 characters that are no English word
        ("noise-canc", {"elling"}, False),  # the lower-case spelling of a lower-cased name
        ("Cloudstep Sh", {"ift"}, False),
        ("Cloudstep", set(), True),  # a finished name word may not run on ("Cloudsteps…")
        ("Cloudstep Shift", set(), True),
        ("Cloud", set(), False),  # an English word: maybe not the name at all
        ("Nimbus", set(), False),  # "nimbus" is English: the first word alone is not the name yet
        ("Halcyon days by Hal", set(), False),  # three characters: too short to tell
        ("the Xhalc", set(), False),  # not at a word boundary
        ("NIMBUS NOISE", set(), False),  # neither the name's case nor lower case
    ],
)
def test_what_may_follow_a_begun_name(text: str, rests: set[str], word_done: bool) -> None:
    step = NAMES.next_step(text)
    assert (step.rests, step.word_done) == (rests, word_done)


def test_a_shorter_name_that_is_complete_leaves_the_next_word_to_the_model() -> None:
    names = ExactNames.of(["Turnwell Compost Tumbler", "Turnwell Compost", "Compost Tumbler"])
    assert names.next_step("Turnwell Compost").word_done  # it may stop here: the field may be full
    assert names.next_step("Turnwell Compost").rests == set()
    assert names.next_step("Turnwell Compost Tumb").rests == {"ler"}


def test_a_token_that_would_jump_past_the_sure_start_to_a_wrong_spelling_is_dropped() -> None:
    names = ExactNames.of(["Qzxvorpal"])
    assert names.next_step("the Qzx").early == (("Qzxvorpal", 3),)  # three characters: not sure yet
    pieces = TokenPieces(
        {0: "v", 1: "vs", 2: "vor", 3: "vorpally", 4: "vorpal", 5: "vorpal,", 6: "x", 7: "vX"}
    )
    # "Qzx" + "vs" would be "Qzxvs": sure at "Qzxv", then wrong; "vorpally" runs the word on
    assert sorted(pieces.diverging("Qzxvorpal", 3)) == [1, 3, 7]
    assert pieces.diverging("Qzxvorpal", 4) == []  # already sure: the rest is enforced instead


PIECES = {
    0: "Halc",
    1: "ourt",
    2: "our",
    3: "o",
    4: "ou",
    5: " and",
    6: ",",
    7: "er",
    8: "s",
    9: "\ufffd",
    10: "t",
}


class FakeTokenizer:
    def decode(self, ids: list[int]) -> str:
        return "".join(PIECES[i] for i in ids)


def _step(output_ids: list[int], logits: torch.Tensor | None = None) -> torch.Tensor:
    step = NameContinuation(ExactNames.of(["Halcourt"]), TokenPieces(PIECES), FakeTokenizer())
    return step(output_ids, torch.zeros(len(PIECES)) if logits is None else logits)


def _possible(logits: torch.Tensor) -> set[int]:
    return {i for i, value in enumerate(logits.tolist()) if math.isfinite(value)}


def test_only_tokens_that_spell_the_rest_of_the_word_stay_possible() -> None:
    assert _possible(_step([0])) == {1, 2, 3, 4}  # "Halc" + "ourt" / "our" / "o" / "ou"
    assert _possible(_step([0, 2])) == {10}  # "Halcour" + "t"


def test_a_finished_name_word_cannot_run_on_but_may_end() -> None:
    assert _possible(_step([0, 1])) == {5, 6, 9}  # " and", "," or a byte piece; never "er" or "s"


def test_nothing_is_restricted_before_a_name_or_when_the_grammar_left_no_continuation() -> None:
    assert _possible(_step([5])) == set(range(len(PIECES)))
    grammar = torch.full((len(PIECES),), -math.inf)
    grammar[[5, 6]] = 0.0  # the field is full: the grammar only allows closing it
    assert _possible(_step([0], grammar)) == {5, 6}


def test_a_failing_step_costs_the_name_never_the_engine(caplog: pytest.LogCaptureFixture) -> None:
    step = NameContinuation(ExactNames.of(["Halcourt"]), TokenPieces(PIECES), SimpleNamespace(decode=None))
    with caplog.at_level(logging.ERROR, logger="creative.name_decoding"):
        assert _possible(step([0], torch.zeros(len(PIECES)))) == set(range(len(PIECES)))
        step([0], torch.zeros(len(PIECES)))
    assert len(caplog.records) == 1  # logged once per request


def test_the_processor_finishes_names_with_the_real_tokenizer() -> None:
    from vllm import SamplingParams

    from creative.copy_processor import CopyLogitsProcessor

    model = Settings().resolved_model_path
    config: Any = SimpleNamespace(model_config=SimpleNamespace(tokenizer=str(model)))
    processor = CopyLogitsProcessor(config, torch.device("cpu"), False)
    assert processor.new_req_logits_processor(SamplingParams()) is None  # requests without names: no work
    step = processor.new_req_logits_processor(
        SamplingParams(extra_args={EXTRA_ARG: ["Nimbus Noise-Cancelling"]})
    )
    assert step is not None and not processor.is_argmax_invariant()
    begun = processor.tokenizer('{"headline": "Nimbus Noise-Can', add_special_tokens=False).input_ids
    logits = torch.zeros(len(processor.tokenizer))
    possible = [str(processor.tokenizer.decode([i])) for i in _possible(step(begun, logits))]
    assert possible and all("celling".startswith(piece) for piece in possible)
