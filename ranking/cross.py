"""Optional cross-encoder re-scoring of (query, variant) pairs, off unless a model folder is configured."""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from sentence_transformers import CrossEncoder

from ranking.embedder import check_model_dir, resolve_device
from ranking.settings import RankingSettings


class PairScorer(Protocol):
    """What the ranker needs from a cross-encoder: one relevance score per (query, text) pair."""

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Score every pair, in input order."""
        ...


@functools.lru_cache(maxsize=2)
def load_cross_encoder(path: str, device: str) -> CrossEncoder:
    """Load (once per process) a local single-label CrossEncoder."""
    model = CrossEncoder(path, device=device, local_files_only=True)
    if model.num_labels != 1:
        raise ValueError(f"cross-encoder at {path} has {model.num_labels} labels; ranking needs exactly 1")
    return model


class CrossEncoderScorer:
    """Relevance from a sentence-transformers CrossEncoder (its default activation: sigmoid, 0..1).

    Calls are serialized with a lock, as in :class:`ranking.embedder.Embedder`.
    """

    def __init__(self, model: CrossEncoder, batch_size: int = 32):
        self.model = model
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: RankingSettings) -> CrossEncoderScorer | None:
        """The configured cross-encoder, or None when ``cross_encoder_path`` is unset."""
        path = settings.resolved_cross_encoder_path
        if path is None:
            return None
        check_model_dir(path, "cross-encoder")
        model = load_cross_encoder(str(path), resolve_device(settings.embedder_device))
        return cls(model, settings.cross_encoder_batch_size)

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """One ``predict`` call for all pairs."""
        if not pairs:
            return []
        with self._lock, torch.inference_mode():
            scores = self.model.predict(
                list(pairs),
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        return [float(x) for x in np.asarray(scores, dtype=np.float64).reshape(-1)]
