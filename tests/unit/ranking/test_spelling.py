"""The spelling check: words in neither an English word list nor the prompt."""

from __future__ import annotations

from ranking.metrics import Scorecard
from ranking.spelling import unknown_words, words
from tests.unit.ranking.fakes import make_variants
from tests.unit.ranking.test_metrics import result


def test_words_drop_possessives_digits_and_split_compounds() -> None:
    assert words("Peak's high-top, 380 g. Don't") == ["peak", "high", "top", "g", "don't"]


def test_a_misspelling_is_unknown_unless_the_prompt_has_the_word() -> None:
    copy = "Clasde leather meets streetwear on a gum cupsole for your hiking days."
    assert unknown_words(copy) == ["clasde", "streetwear", "cupsole"]
    assert unknown_words(copy, ["Features: gum rubber cupsole", "Interests: streetwear"]) == ["clasde"]
    assert unknown_words("Nimbus Noise-Canceling Headphones", ["Nimbus"]) == []


def test_the_scorecard_counts_top_variants_with_an_unknown_word() -> None:
    results = [result(["Dry feet on muddy trails", "Courtsofteam shoes"], first=2, repaired=0, rejected=[])]
    card = Scorecard.compute(results, template_texts=["TrailRunner"])
    assert card.misspelled_rate == 0.5
    ranked = Scorecard.compute(results, [make_variants("Dry feet on muddy trails")], template_texts="x")
    assert ranked.misspelled_rate == 0.0
    assert Scorecard.compute(results).misspelled_rate is None  # no prompt: not measured
