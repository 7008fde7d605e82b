"""Best-of-n targets: only candidates right as generated compete, and the one that speaks to its own
profile rather than a rival's wins."""

from __future__ import annotations

import json
from pathlib import Path

from creative.training.best_of_n import choose, rivals_by_row, summarize, write_choices
from creative.training.data import TrainingRow
from tests.unit.creative.training_support import row
from tests.unit.ranking.fakes import WordEmbedder
from tests.unit.ranking.test_metrics import result

PROMPT = "Write a push notification. Product: Peak TrailRunner X, waterproof, 380 g."
RUNNER, BAKER = "interests: marathon training", "interests: bread baking"


def test_the_candidate_closest_to_its_own_profile_and_farthest_from_the_rival_wins() -> None:
    written = result(
        ["Bread baking weekends, dry feet", "Marathon training in the rain", "Dry feet all day"], 3, 0, []
    )
    choice = choose(0, written, PROMPT, (RUNNER, [BAKER]), WordEmbedder().embed)
    assert choice.variant is not None and choice.variant.text == "Marathon training in the rain"
    assert choice.eligible == 3 and choice.written == 3 and choice.reward is not None and choice.reward > 0
    baker = choose(1, written, PROMPT, (BAKER, [RUNNER]), WordEmbedder().embed)
    assert baker.variant is not None and baker.variant.text == "Bread baking weekends, dry feet"


def test_repaired_misspelled_or_copied_candidates_do_not_compete() -> None:
    written = result(["Marathon trainng in the rain", "Peak TrailRunner X, waterproof, 380 g."], 2, 0, [])
    assert choose(0, written, PROMPT, (RUNNER, [BAKER]), WordEmbedder().embed).variant is None  # typo; copy
    repaired = result(["Marathon training in the rain"], 1, 1, [])
    repaired.variants[0].repaired = True
    empty = choose(0, repaired, PROMPT, (RUNNER, [BAKER]), WordEmbedder().embed)
    assert empty.variant is None and empty.eligible == 0 and empty.reward is None
    assert summarize([empty])["rows_with_a_choice"] == 0


def test_rivals_are_other_profiles_on_the_product_and_rows_without_a_choice_are_left_out(
    tmp_path: Path,
) -> None:
    rows = [
        TrainingRow.model_validate(row()),
        TrainingRow.model_validate(row(profile={"id": "p2", "interests": ["baking"]})),
        TrainingRow.model_validate(row(placement="push")),  # p1 again: not its own rival
    ]
    assert rivals_by_row(rows) == [[1], [0], [1]]
    written = result(["Marathon training in the rain"], 1, 0, [])
    choice = choose(0, written, PROMPT, (RUNNER, [BAKER]), WordEmbedder().embed)
    path = tmp_path / "best.jsonl"
    write_choices(
        path, rows, [choice, choose(1, result([], 0, 0, []), PROMPT, (BAKER, []), WordEmbedder().embed)]
    )
    (line,) = path.read_text().splitlines()
    assert json.loads(line)["target"] == {"body": "Marathon training in the rain"}
    assert json.loads(line)["profile"]["id"] == "p1"


def test_why_not_first_try_counts_repair_kinds_and_reasons_without_specifics() -> None:
    from core.schema import RejectedVariant
    from creative.training.best_of_n import why_not_first_try

    written = result(["Dry feet"], 0, 1, [["title: 45 chars, limit 30"], ["body: 51 chars, limit 40"]])
    written.variants[0].repairs = ["title: spelled 'TrailRuner' as 'TrailRunner'"]
    written.rejected.append(RejectedVariant(attempt=0, seed=1, reasons=["stopped at the limit"], raw=""))
    assert why_not_first_try([written]) == {
        "# chars, limit #": 2,
        "spelled '…' as '…'": 1,
        "stopped at the limit": 1,
    }


def test_copy_chosen_for_two_rows_is_written_once(tmp_path: Path) -> None:
    rows = [TrainingRow.model_validate(row()), TrainingRow.model_validate(row(profile={"id": "p2"}))]
    same = result(["Marathon training in the rain"], 1, 0, [])
    choices = [choose(i, same, PROMPT, (RUNNER, [BAKER]), WordEmbedder().embed) for i in range(2)]
    path = tmp_path / "best.jsonl"
    write_choices(path, rows, choices)
    assert len(path.read_text().splitlines()) == 1
