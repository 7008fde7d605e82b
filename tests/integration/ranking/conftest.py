"""Session fixtures for ranking integration tests: the real MiniLM and a tiny CrossEncoder built here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ranking.embedder import Embedder
from ranking.rank import Ranker
from ranking.settings import RankingSettings
from ranking.texts import product_text, profile_text
from tests.integration.ranking.tiny_models import (
    CROSS_ENCODER_LABELS,
    CROSS_ENCODER_TEXTS,
    build_tiny_cross_encoder,
)
from tests.unit.ranking.fakes import make_request

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm_settings() -> RankingSettings:
    """The packaged all-MiniLM-L6-v2 in float32, whatever the CPU.

    The default (``auto``) runs bf16 on CPUs with native bf16 and float32 elsewhere, and bf16 kernels round
    differently from one CPU to the next; the orderings and margins asserted here are properties of the
    model, so they are checked on float32 embeddings, which agree across CPUs to ~1e-6.
    """
    return RankingSettings(embedder_dtype="float32")


@pytest.fixture(scope="session")
def minilm_ranker(minilm_settings: RankingSettings) -> Ranker:
    """The real ranker (loads MiniLM once per session)."""
    return Ranker.from_settings(minilm_settings)


@pytest.fixture(scope="session")
def minilm_embedder(minilm_ranker: Ranker) -> Embedder:
    """The ranker's MiniLM embedder."""
    assert isinstance(minilm_ranker.embedder, Embedder)
    return minilm_ranker.embedder


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 1-label CrossEncoder taught to prefer the kettle copy for a trail runner (unlike MiniLM)."""
    request = make_request()
    queries = [profile_text(request.profile), product_text(request.product)]
    teach = [
        (q, t, label)
        for q in queries
        for t, label in zip(CROSS_ENCODER_TEXTS, CROSS_ENCODER_LABELS, strict=True)
    ]
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"), teach=teach)
