"""Only the facts' numbers while decoding: the forms a request sends, the per-request step, and a random
decoder that, with the step, never writes copy the faithfulness check would reject."""

from __future__ import annotations

import json
import logging
import math
import random

import pytest
import torch

from core.schema import Product
from creative.checks import ProductFacts
from creative.engine import SamplingSpec, copy_extra_args
from creative.number_decoding import FactNumbers, NumberTables, number_forms, written_forms
from creative.repair import normalize_whitespace

PRODUCT = Product(
    name="Trailblazer 2",
    brand="Peakline",
    description="Waterproof hiking boot with a 1,200 g grip sole and 30% recycled lining.",
    features=["0.125 in tread", "2 colorways"],
    price=89.0,
    currency="USD",
    category="footwear",
)
FACTS = ProductFacts.from_product(PRODUCT)
PIECES = [*"0123456789", ",", ".", " ", "$", "%", " USD", " off", " for", " pairs", "X", '"', " percent"]
PIECES += ["\\n", "  ", " NOK"]  # a JSON escape (the copy reads a newline), two spaces, a code
QUOTE = PIECES.index('"')


class JoinTokenizer:
    def decode(self, ids: list[int]) -> str:
        return "".join(PIECES[i] for i in ids)


class FixedTokenizer:
    def __init__(self, text: str):
        self.text = text

    def decode(self, ids: list[int]) -> str:
        return self.text


def _step(tokenizer: object | None = None) -> FactNumbers:
    tables = NumberTables.from_pieces(dict(enumerate(PIECES)))
    return FactNumbers(number_forms(FACTS), tables, tokenizer or JoinTokenizer())


def _possible(text: str) -> set[str]:
    logits = _step(FixedTokenizer(text))([0], torch.zeros(len(PIECES)))
    return {PIECES[i] for i, value in enumerate(logits.tolist()) if math.isfinite(value)}


def test_the_forms_cover_the_usual_ways_and_the_facts_own() -> None:
    assert written_forms(1200.0) == {"1200", "1,200", "1200.00", "1,200.00"}
    assert written_forms(4.5) == {"4.50", "4.5"}
    forms = number_forms(FACTS)
    assert {"89", "89.00", "1,200", "1200", "2", "0.125"} <= set(forms["number"])
    assert forms["money"] == ["89", "89.00"] and forms["percent"] == ["30", "30.00"]


def test_a_number_may_only_begin_as_one_of_the_facts() -> None:
    assert _possible("only ") & set("0123456789") == {"0", "1", "2", "3", "8"}
    assert _possible("only $") & set("0123456789") == {"8"}  # money: the price alone
    assert _possible("only $ ") & set("0123456789") == {"8"}


def test_an_unfinished_number_may_only_go_on() -> None:
    assert _possible("only 1") == {"2", ","}  # 1200 or 1,200: not "1 for"
    assert _possible("only 1,") == {"2"}
    assert _possible("only 8") == {"9"}
    assert "." in _possible("only 89") and " for" in _possible("only 89")  # 89 is whole; 89.00 goes on
    assert _possible("only 89.") & set("0123456789") == {"0"}


def test_a_percentage_or_currency_must_be_the_facts_own() -> None:
    assert "%" in _possible("only 30") and " percent" in _possible("only 30")
    assert "%" not in _possible("only 89") and " percent" not in _possible("only 89")
    assert " USD" in _possible("only 89") and " USD" not in _possible("only 30")


def test_numbers_glued_to_a_word_are_left_alone() -> None:
    assert _possible("X") == set(PIECES)
    assert _possible("X7") == set(PIECES)


def test_with_no_other_choice_nothing_changes() -> None:
    step = _step()
    only_seven = torch.full((len(PIECES),), -math.inf)
    only_seven[PIECES.index("7")] = 0.0
    assert torch.equal(step([PIECES.index(" ")], only_seven), only_seven)


def test_a_failing_step_costs_a_candidate_never_the_engine(caplog: pytest.LogCaptureFixture) -> None:
    broken = FactNumbers(number_forms(FACTS), NumberTables.from_pieces(dict(enumerate(PIECES))), object())
    with caplog.at_level(logging.ERROR, logger="creative.number_decoding"):
        assert torch.equal(broken([1], torch.zeros(len(PIECES))), torch.zeros(len(PIECES)))
        broken([1], torch.zeros(len(PIECES)))
    assert len(caplog.records) == 1


def _random_copy(rng: random.Random, step: FactNumbers | None) -> str:
    ids: list[int] = []
    for position in range(60):
        logits = torch.tensor([rng.gauss(0, 1) for _ in PIECES])
        logits[QUOTE] = 5.0 if position >= 40 else -math.inf  # the grammar closes the string after 40
        if step is not None:
            logits = step(ids, logits)
        choice = int(torch.argmax(logits))
        if choice == QUOTE:
            break
        ids.append(choice)
    return JoinTokenizer().decode(ids)


def _as_checked(raw: str) -> str:
    """The copy as the writer checks it: the JSON string decoded, whitespace collapsed."""
    return normalize_whitespace(json.loads(f'"{raw}"'))


def test_a_random_writer_with_the_step_writes_only_supported_numbers() -> None:
    rng = random.Random(7)
    without = [_as_checked(_random_copy(rng, None)) for _ in range(200)]
    assert sum(bool(FACTS.unsupported(text)) for text in without) > 150  # the writer invents numbers
    written = [_as_checked(_random_copy(rng, _step())) for _ in range(300)]
    assert [text for text in written if FACTS.unsupported(text)] == []
    assert (
        sum(bool(FACTS.unsupported(text)) == 0 and any(c.isdigit() for c in text) for text in written) > 200
    )


def test_a_request_sends_the_facts_numbers() -> None:
    forms = number_forms(FACTS)
    spec = SamplingSpec(n=1, seed=None, temperature=0.8, top_p=0.95, max_tokens=8, fact_numbers=forms)
    assert copy_extra_args(spec) == {"adcreative_fact_numbers": forms}


def test_pieces_of_several_characters_are_judged_whole() -> None:
    pieces = {
        0: " 5",
        1: "89",
        2: " 89",
        3: "2",
        4: "200",
        5: " 30%",
        6: " 2%",
        7: " for",
    }  # other tokenizers

    def possible(text: str) -> set[str]:
        step = FactNumbers(number_forms(FACTS), NumberTables.from_pieces(pieces), FixedTokenizer(text))
        return {
            pieces[i] for i, v in enumerate(step([0], torch.zeros(len(pieces))).tolist()) if math.isfinite(v)
        }

    # glued to "only", "89" is no number to the check; 2 is a number of the facts, not a percentage
    assert possible("only") == {" 89", " 30%", "89", "2", "200", " for"}
    assert possible("only 1") == {"2", "200"}  # 12… or 1200; " 5" would end "1"
    assert possible("only ") == {"89", "2", " 89", " 30%", " for"}


def _allowed(pieces: dict[int, str], text: str, step: FactNumbers | None = None) -> set[str]:
    step = step or FactNumbers(number_forms(FACTS), NumberTables.from_pieces(pieces), FixedTokenizer(text))
    step.tokenizer = FixedTokenizer(text)
    return {pieces[i] for i, v in enumerate(step([0], torch.zeros(len(pieces))).tolist()) if math.isfinite(v)}


def test_the_step_reads_the_copy_as_the_check_does() -> None:
    """JSON escapes and runs of spaces: the check reads the decoded string with one space between words."""
    pieces = dict(enumerate(["7", "n7", "2", " %", "%", " 2", "\\", " ", "8"]))
    assert FACTS.unsupported("Features: 7 colors") and not FACTS.unsupported("Features: 2 colors")
    assert _allowed(pieces, '{"headline": "Features:\\n') & {"7", "2"} == {"2"}  # "\n7" is " 7"
    assert "n7" not in _allowed(pieces, '{"headline": "Features:\\')  # an escape cut off at the end
    assert "7" in _allowed(pieces, '{"headline": "Features:n')  # glued to a word: no number
    assert {" %", "%"} & _allowed(pieces, "only 2  ") == set()  # "2  %" reads "2 %"
    assert " 2" not in _allowed(pieces, "only $ ")  # "$  2" reads "$ 2": money, and 2 is no price
    step = FactNumbers(number_forms(FACTS), NumberTables.from_pieces(pieces), FixedTokenizer(""))
    for tail in ("only $", "only $ ", "only ", "only  ", "only $"):  # one step, many tails: what it keeps
        assert (" 2" in _allowed(pieces, tail, step)) == ("$" not in tail)  # still fits each


def test_currency_codes_and_percent_words_as_the_check_knows_them() -> None:
    pieces = dict(
        enumerate([" NOK", " nok", " G", "BP", "BPS", " per", "cent", "centimeters", " USD", "X7", "7"])
    )
    assert (
        FACTS.unsupported("only 2 NOK") and FACTS.unsupported("only 2 GBP") and FACTS.unsupported("2 percent")
    )
    assert {" NOK", " nok", " USD"} & _allowed(pieces, "only 2") == set()  # 2 is a number, not a price
    assert " USD" in _allowed(pieces, "only 89")
    assert _allowed(pieces, "only 2 G") & {"BP", "BPS"} == {"BPS"}  # "2 GBPS" is no currency
    assert _allowed(pieces, "only 2 per") & {"cent", "centimeters"} == {"centimeters"}
    assert "cent" in _allowed(pieces, "only 30 per")  # 30 is the facts' percentage
    assert "X7" not in _allowed(pieces, "only 0.125")  # "0.125X7": the check would read "0"
    assert "7" in _allowed(pieces, "only 0.125 X")
