"""The evaluation report: the best arm per metric, over the base model and any number of adapters."""

from __future__ import annotations

from typing import Any

from creative.training.evaluate import HIGHER_IS_BETTER, render_markdown, verdicts


def _card(**values: float) -> dict[str, Any]:
    return {metric: values.get(metric, 0.5) for metric in HIGHER_IS_BETTER}


def test_each_metric_names_its_best_arm_by_direction_and_ties_are_said() -> None:
    cards = {
        "base": _card(novelty=0.9, misspelled_rate=0.2),
        "house": _card(personalization=0.6, misspelled_rate=0.1),
        "house2": _card(personalization=0.8, misspelled_rate=0.05),
    }
    result = verdicts(cards)
    assert result["novelty"] == "base" and result["personalization"] == "house2"
    assert result["misspelled_rate"] == "house2"  # lower is better
    assert result["distinct_2"] == "tie"
    cards["house"]["novelty"] = None  # not measured for one arm: no verdict
    assert "novelty" not in verdicts(cards)


def test_the_markdown_has_a_column_per_arm() -> None:
    cards = {"base": _card(), "house": _card(personalization=0.7)}
    report = {
        "command": "python -m creative.training evaluate --adapter house",
        "created": "now",
        "machine": "x86_64",
        "rows": 2,
        "products": 1,
        "n": 4,
        "pairs": 1,
        "arms": {arm: {"scorecard": card, "seconds": 1.0} for arm, card in cards.items()},
        "verdicts": verdicts(cards),
    }
    text = render_markdown(report)
    assert "| metric | base | house | better |" in text
    assert "| personalization ↑ | 0.500 | 0.700 | house |" in text


def test_misspelled_names_are_counted_over_returned_and_rejected_candidates() -> None:
    from core.schema import RejectedVariant
    from creative.training.evaluate import misspelled_name_candidates
    from tests.unit.ranking.fakes import make_request
    from tests.unit.ranking.test_metrics import result

    done = result(["Peak TrailRunner X", "Dry feet"], first=1, repaired=1, rejected=[])
    done.variants[0].repairs = ["body: spelled 'TrailRuner X' as 'TrailRunner X'"]
    done.rejected = [
        RejectedVariant(
            attempt=0, seed=1, reasons=["too long"], raw='{"body": "The Peak TrailRuner X, now"}'
        ),
        RejectedVariant(attempt=0, seed=2, reasons=["too long"], raw='{"body": "The Peak TrailRunner X"}'),
        RejectedVariant(attempt=0, seed=3, reasons=["not JSON"], raw='{"body": "TrailRuner'),
    ]
    assert misspelled_name_candidates([make_request()], [done]) == 2


def test_candidates_misspelled_rate_counts_every_returned_candidate_before_ranking() -> None:
    from creative.training.evaluate import misspelled_candidates_rate
    from tests.unit.ranking.test_metrics import result

    written = result(["Dry feet on the Peakwalk trails", "Dry feet on every trial", "Dyr feet"], 3, 0, [])
    # "Peakwalk" is in the prompt (the product's name): spelled; "Dyr" is in no word list
    assert misspelled_candidates_rate([written], ["Peakwalk by Peak: a trail shoe"]) == 1 / 3
    assert misspelled_candidates_rate([], []) is None
