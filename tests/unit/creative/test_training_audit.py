"""The data audit: contrasting rows on one product, scored by the lexical judge on their targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from creative.training.__main__ import main
from creative.training.audit import near_limit_share, row_gaps, target_novelty, target_pairs
from creative.training.data import TrainingRow
from prompts.store import TemplateStore
from ranking.metrics import lexical_personalization
from tests.unit.creative.training_support import row


def _row(profile_id: str, interest: str, title: str) -> TrainingRow:
    target = {"title": title, "body": "The Peak TrailRunner X weighs 380 g. $89."}
    return TrainingRow.model_validate(row(profile={"id": profile_id, "interests": [interest]}, target=target))


RUNNER = _row("p1", "marathons", "Built for marathon training")
BAKER = _row("p2", "baking", "Warm, dry feet after baking")


def test_targets_that_name_their_profiles_interests_are_told_apart() -> None:
    (pair,) = target_pairs([RUNNER, BAKER])
    assert (pair.profile_a, pair.profile_b) == ("p1", "p2") and "Waterproof trail shoe" in pair.product_words
    assert lexical_personalization([pair]) == 1.0
    same_copy = _row("p3", "baking", "Built for marathon training")  # the baker got the runner's copy
    assert lexical_personalization(target_pairs([RUNNER, same_copy])) == 0.0
    assert target_pairs([RUNNER, _row("p1", "marathons", "Another title")]) == []  # one profile: no contrast


def test_the_audit_command_reports_each_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(r.model_dump_json(exclude_none=True) + "\n" for r in (RUNNER, BAKER)))
    assert main(["audit", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    novelty = report[str(path)].pop("target_novelty")
    assert report[str(path)] == {
        "rows": 2,
        "pairs": 1,
        "lexical_personalization": 1.0,
        "fields_over_85pct_of_limit": 0.0,
    }
    assert 0.0 < novelty < 1.0  # the body repeats "trailrunner x" from the product's name


def test_target_novelty_counts_word_pairs_copied_from_the_prompt() -> None:
    templates = TemplateStore.from_directory()
    fresh = TrainingRow.model_validate(
        row(target={"title": "Dry feet, fast miles", "body": "Go long on wet days."})
    )
    echo = TrainingRow.model_validate(
        row(target={"title": "Waterproof trail shoe", "body": "Waterproof trail shoe."})
    )
    assert target_novelty([fresh], templates) == 1.0
    echoed = target_novelty([echo], templates)
    assert echoed is not None and echoed < 0.5
    assert target_novelty([], templates) is None


def test_fields_near_their_limit_are_counted() -> None:
    long_body = "x" * 110  # push body limit 120: 0.92 of it
    assert near_limit_share([RUNNER, _row("p4", "baking", "Short")]) == 0.0
    full = TrainingRow.model_validate(row(target={"title": "Short title", "body": long_body}))
    assert near_limit_share([full]) == 0.5 and near_limit_share([]) is None


def test_rows_mode_lists_each_row_that_loses_with_the_words_it_could_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generic = _row("p3", "gardening", "Dry feet on every walk")  # neither gardening nor any rival's words
    assert row_gaps([RUNNER, BAKER]) == []
    (gap,) = row_gaps([RUNNER, BAKER, generic])
    assert gap["line"] == 3 and gap["profile"] == "p3" and sorted(gap["loses_to"]) == ["p1", "p2"]
    assert gap["own_words"] == ["garden"]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(r.model_dump_json(exclude_none=True) + "\n" for r in (RUNNER, BAKER, generic)))
    assert main(["audit", "--rows", str(path)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {"file": str(path), **gap}


def test_a_brand_voice_is_audited_on_its_own_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flat = {"title": "Ready for wet trails?", "body": "Peak TrailRunner X: $89!"}  # neither profile's words
    voiced = [
        RUNNER.model_copy(
            update={"voices": {"playful": {"title": "Marathon feet? Sorted!", "body": "Go the distance!"}}}
        ),
        BAKER.model_copy(update={"voices": {"playful": flat}}),
        _row("p3", "gardening", "Dry feet in the garden"),  # no playful copy: not audited in that voice
    ]
    (gap,) = row_gaps(voiced, "playful")
    assert gap["line"] == 2 and gap["profile"] == "p2" and gap["loses_to"] == ["p1"]  # p3 has no playful copy
    assert row_gaps(voiced) == []  # the house targets speak to their profiles
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(r.model_dump_json(exclude_none=True) + "\n" for r in voiced))
    assert main(["audit", "--voice", "playful", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)[str(path)]
    assert (report["rows"], report["pairs"], report["lexical_personalization"]) == (2, 1, 0.0)
