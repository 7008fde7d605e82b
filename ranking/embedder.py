"""The sentence embedder: one SentenceTransformer per (folder, device, dtype), loaded once per process."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch
from sentence_transformers import SentenceTransformer, util

from core.hardware import resolve_dtype
from ranking.settings import RankingSettings

logger = logging.getLogger(__name__)

__all__ = ["Embedder", "TextEmbedder", "check_model_dir", "resolve_device", "resolve_dtype"]


class TextEmbedder(Protocol):
    """What the ranker needs: unit-length embeddings, one row per text, in input order."""

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed ``texts`` as an ``(len(texts), dim)`` float tensor of unit rows."""
        ...


def resolve_device(choice: str) -> str:
    """``cuda`` for ``auto`` when a GPU is available, else ``cpu``; explicit choices pass through."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def check_model_dir(path: Path, kind: str) -> None:
    """Fail early with a readable message when ``path`` is not a local model folder."""
    if not path.is_dir():
        raise FileNotFoundError(f"no {kind} model folder at {path}")
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise FileNotFoundError(f"{path} is not a {kind} model folder (no config.json or modules.json)")


@functools.lru_cache(maxsize=4)
def load_sentence_transformer(path: str, device: str, dtype: str) -> SentenceTransformer:
    """Load (once per process and arguments) a local SentenceTransformer; never touches the network."""
    started = time.perf_counter()
    model = SentenceTransformer(
        path,
        device=device,
        local_files_only=True,
        model_kwargs={"dtype": getattr(torch, dtype)},
    )
    model.eval()
    elapsed = round(time.perf_counter() - started, 2)
    logger.info("embedder loaded", extra={"model": Path(path).name, "load_s": elapsed})
    return model


class Embedder:
    """Normalized sentence embeddings from a SentenceTransformer.

    Calls are serialized with a lock: callers may run ``rank`` in worker threads, and a shared fast
    tokenizer is not safe to use from two threads at once (torch already uses every core per call).
    """

    def __init__(self, model: SentenceTransformer, batch_size: int = 64):
        self.model = model
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: RankingSettings) -> Embedder:
        """The embedder the settings describe (the packaged MiniLM by default)."""
        path = settings.resolved_embedder_path
        check_model_dir(path, "sentence-transformers")
        device = resolve_device(settings.embedder_device)
        model = load_sentence_transformer(str(path), device, resolve_dtype(settings.embedder_dtype, device))
        return cls(model, settings.embed_batch_size)

    @property
    def dimension(self) -> int:
        """Length of one embedding."""
        dim = self.model.get_embedding_dimension()
        if dim is None:  # pragma: no cover - every sentence-transformers text model reports it
            raise RuntimeError("the embedder does not report its dimension")
        return int(dim)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """One ``encode`` call for all ``texts``: float32 unit rows, in input order."""
        if not texts:
            return torch.zeros((0, self.dimension))
        with self._lock, torch.inference_mode():
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        assert isinstance(vectors, torch.Tensor)
        return util.normalize_embeddings(vectors.float())  # unit rows in float32, also from bf16 weights
