"""The voice check: matched copy in each voice gives one centroid per voice; copy is told by the nearest."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from creative.training.data import TrainingRow
from creative.training.voices import VoiceCheck, voice_texts
from tests.unit.creative.training_support import row
from tests.unit.ranking.fakes import WordEmbedder


def _voiced(title: str, playful: str, premium: str) -> TrainingRow:
    body = "The Peak TrailRunner X weighs 380 g."
    return TrainingRow.model_validate(
        row(
            target={"title": title, "body": body},
            voices={
                "playful": {"title": playful, "body": body + " Wheee!"},
                "premium": {"title": premium, "body": body + " Considered craft."},
            },
        )
    )


ROWS = [
    _voiced("Dry feet on trails", "Splash away, buddy!", "Quiet, considered craft"),
    _voiced("Light on the trail", "Zoom zoom, buddy!", "Refined, considered build"),
    TrainingRow.model_validate(row()),  # no voices: left out of the centroids
]


def test_voice_texts_use_only_rows_with_every_voice() -> None:
    texts = voice_texts(ROWS, ["house", "playful", "premium"])
    assert [len(t) for t in texts.values()] == [2, 2, 2]
    assert texts["playful"][0].startswith("Splash away, buddy!")


def test_copy_is_classified_by_its_nearest_voice() -> None:
    check = VoiceCheck.fit(ROWS, ["house", "playful", "premium"], WordEmbedder().embed)
    assert check.classify(["Hop hop, buddy! Wheee!", "A considered, refined craft"]) == ["playful", "premium"]
    assert check.accuracy(["Wheee, buddy!", "Considered craft"], "playful") == 0.5
    assert check.accuracy([], "playful") is None
    with pytest.raises(ValueError, match="no rows carry"):
        VoiceCheck.fit(ROWS[2:], ["house", "playful"], WordEmbedder().embed)


def test_the_evaluation_grades_voiced_adapters_and_skips_voices_the_data_lacks(tmp_path: Path) -> None:
    from creative.training.evaluate import check_voices

    train = tmp_path / "train.jsonl"
    train.write_text("".join(r.model_dump_json(exclude_none=True) + "\n" for r in ROWS[:2]))
    ranker = SimpleNamespace(embedder=SimpleNamespace(embed=WordEmbedder().embed))
    report = check_voices(
        train,
        ROWS[:2],
        {"fun": "playful", "odd": "luxury"},
        {"fun": ["Zoom, buddy! Wheee!"], "odd": ["Anything"]},
        ranker,
    )
    assert report["voices"] == ["house", "playful"]
    assert report["arms"] == {
        "fun": {"voice": "playful", "accuracy": 1.0},
        "odd": {"voice": "luxury", "accuracy": None},
    }
    assert set(report["reference"]) == {"house", "playful"}
