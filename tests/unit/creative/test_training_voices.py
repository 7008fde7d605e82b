"""The voice check: matched copy in each voice gives one centroid per voice; copy is told by the nearest."""

from __future__ import annotations

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
