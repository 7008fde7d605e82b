"""A deterministic bag-of-words embedder for fast ranking tests: cosine = word overlap."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import torch
from sentence_transformers import util

from core.schema import CreativeRequest, Variant
from ranking.metrics import tokens


class WordEmbedder:
    """Each word adds 1 to a hashed dimension; rows are normalized. Records every call."""

    def __init__(self, dim: int = 1024):
        self.dim = dim
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit bag-of-words rows (all-zero for texts without words)."""
        self.calls.append(list(texts))
        out = torch.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            for word in tokens(text):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        return util.normalize_embeddings(out)


class FixedScorer:
    """A stand-in cross-encoder: the score of a pair is looked up by its text, else 0. Records calls."""

    def __init__(self, scores: dict[str, float]):
        self.scores = scores
        self.calls: list[list[tuple[str, str]]] = []

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Score of each pair's second text."""
        self.calls.append(list(pairs))
        return [self.scores.get(text, 0.0) for _, text in pairs]


def make_request(**overrides: object) -> CreativeRequest:
    """A trail-running profile and a trail shoe (fields overridable)."""
    data: dict[str, object] = {
        "profile": {
            "id": "u1",
            "interests": ["trail running", "hiking"],
            "recent_activity": ["viewed waterproof jackets"],
            "segment": "outdoor",
        },
        "product": {
            "name": "TrailRunner X",
            "brand": "Peak",
            "description": "Waterproof trail running shoe",
            "features": ["waterproof", "grippy outsole"],
            "price": 89,
            "currency": "USD",
            "category": "footwear",
        },
        "placement": "push",
    }
    data.update(overrides)
    return CreativeRequest.model_validate(data)


def make_variants(*texts: str) -> list[Variant]:
    """Push variants whose body is each text, in order."""
    return [
        Variant(
            index=i,
            fields={"body": text},
            valid_first_try=True,
            repaired=False,
            attempt=0,
            seed=i,
            output_tokens=len(text.split()),
        )
        for i, text in enumerate(texts)
    ]
