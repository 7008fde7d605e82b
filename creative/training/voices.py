"""A voice check: does an adapter's copy sound like its brand voice?

The training rows that carry all three voices say the same thing, for the same persona and product, in the
house, ``playful`` and ``premium`` voice. Averaging each voice's copy embeddings over those rows cancels
what the copy says and keeps how it says it: one centroid per voice. A text's voice is its nearest
centroid (cosine). The check is calibrated on the held-out rows' own voice copy (how often the reference
copy is told apart) before it grades an adapter's copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from sentence_transformers import util

from creative.training.data import TrainingRow

EmbedFn = Callable[[Sequence[str]], torch.Tensor]
HOUSE = "house"


def voice_texts(rows: Sequence[TrainingRow], voices: Sequence[str]) -> dict[str, list[str]]:
    """Each voice's copy (``house``: the target) over the rows that carry every voice in ``voices``."""
    complete = [r for r in rows if all(v == HOUSE or v in r.voices for v in voices)]
    texts: dict[str, list[str]] = {}
    for voice in voices:
        texts[voice] = [
            " ".join((r.copy_for(None if voice == HOUSE else voice) or {}).values()) for r in complete
        ]
    return texts


class VoiceCheck:
    """Nearest-centroid voice of a text, centroids from matched copy in every voice."""

    def __init__(self, centroids: dict[str, torch.Tensor], embed: EmbedFn):
        self.voices = list(centroids)
        self._matrix = util.normalize_embeddings(torch.stack([centroids[v] for v in self.voices]))
        self._embed = embed

    @classmethod
    def fit(cls, rows: Sequence[TrainingRow], voices: Sequence[str], embed: EmbedFn) -> VoiceCheck:
        """Centroids from ``rows`` (training rows: the products the check is later used on are unseen)."""
        texts = voice_texts(rows, voices)
        if not all(texts.values()):
            raise ValueError(f"no rows carry every voice of {list(voices)}")
        return cls({voice: embed(t).mean(dim=0) for voice, t in texts.items()}, embed)

    def classify(self, texts: Sequence[str]) -> list[str]:
        """The nearest voice of each text."""
        if not texts:
            return []
        scores = util.cos_sim(self._embed(list(texts)), self._matrix)
        return [self.voices[int(i)] for i in scores.argmax(dim=1)]

    def accuracy(self, texts: Sequence[str], voice: str) -> float | None:
        """Share of ``texts`` classified as ``voice`` (None for no texts)."""
        labels = self.classify(texts)
        return sum(label == voice for label in labels) / len(labels) if labels else None
