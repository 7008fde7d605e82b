"""Ranking settings: defaults, environment, bounds, model folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ranking.cross import CrossEncoderScorer
from ranking.embedder import Embedder, check_model_dir, resolve_device, resolve_dtype
from ranking.settings import RankingSettings, packaged_minilm_path


def test_defaults() -> None:
    s = RankingSettings()
    assert s.embedder_path is None and s.cross_encoder_path is None
    assert s.resolved_embedder_path == packaged_minilm_path()
    assert (s.resolved_embedder_path / "config.json").is_file()
    assert s.resolved_cross_encoder_path is None
    assert 0 < s.mmr_lambda < 1 and 0 < s.duplicate_threshold <= 1


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ADCREATIVE_MMR_LAMBDA", "0.4")
    monkeypatch.setenv("ADCREATIVE_EMBEDDER_PATH", str(tmp_path))
    monkeypatch.setenv("ADCREATIVE_MODEL_PATH", "/somewhere/else")  # generation's setting: ignored here
    s = RankingSettings()
    assert s.mmr_lambda == 0.4
    assert s.resolved_embedder_path == tmp_path.resolve()


@pytest.mark.parametrize(
    "field, value",
    [
        ("mmr_lambda", 1.5),
        ("mmr_lambda", -0.1),
        ("profile_weight", -1),
        ("product_weight", 2),
        ("duplicate_threshold", 0),
        ("duplicate_threshold", 1.01),
        ("embed_batch_size", 0),
        ("embed_cache_size", -1),
        ("cross_encoder_batch_size", 0),
        ("embedder_device", "tpu"),
        ("embedder_dtype", "int4"),
    ],
)
def test_bounds(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        RankingSettings(**{field: value})


def test_weights_cannot_both_be_zero() -> None:
    with pytest.raises(ValidationError, match="cannot both be 0"):
        RankingSettings(profile_weight=0, product_weight=0)


def test_missing_model_folders_fail_early(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no sentence-transformers model folder"):
        Embedder.from_settings(RankingSettings(embedder_path=tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="not a cross-encoder model folder"):
        CrossEncoderScorer.from_settings(RankingSettings(cross_encoder_path=tmp_path))
    assert CrossEncoderScorer.from_settings(RankingSettings()) is None
    (tmp_path / "config.json").write_text("{}")
    check_model_dir(tmp_path, "any")


def test_device_choice() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_dtype("float32", "cuda") == "float32" and resolve_dtype("auto", "cuda") == "bfloat16"
    assert resolve_dtype("auto", "cpu") in ("bfloat16", "float32")
    assert resolve_device("auto") in ("cpu", "cuda")
