"""Cross-encoder re-scoring through sentence_transformers.CrossEncoder, on a tiny model built for the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from sentence_transformers import CrossEncoder

from ranking.cross import CrossEncoderScorer
from ranking.rank import Ranker
from ranking.settings import RankingSettings
from ranking.texts import product_text, profile_text
from tests.integration.ranking.tiny_models import CROSS_ENCODER_TEXTS as TEXTS
from tests.integration.ranking.tiny_models import build_tiny_cross_encoder
from tests.unit.ranking.fakes import make_request, make_variants

KETTLE = 2  # index of the kettle copy in TEXTS
FP32 = "float32"  # the MiniLM the session fixture loaded (shared, and the same on any CPU)


def test_cross_encoder_drives_relevance(minilm_ranker: Ranker, tiny_cross_encoder_dir: Path) -> None:
    request, variants = make_request(), make_variants(*TEXTS)
    # MiniLM puts the kettle copy last for a trail runner; the cross-encoder was taught the opposite.
    assert minilm_ranker.rank(request, variants, k=4)[-1].index == KETTLE
    ranker = Ranker.from_settings(
        RankingSettings(cross_encoder_path=tiny_cross_encoder_dir, mmr_lambda=1.0, embedder_dtype=FP32)
    )
    assert isinstance(ranker.cross_encoder, CrossEncoderScorer)
    ranked = ranker.rank(request, variants, k=4)
    assert ranked[0].index == KETTLE

    model = CrossEncoder(str(tiny_cross_encoder_dir), device="cpu")
    by_profile = model.predict([(profile_text(request.profile), t) for t in TEXTS]).tolist()
    by_product = model.predict([(product_text(request.product), t) for t in TEXTS]).tolist()
    assert [v.index for v in ranked] == sorted(
        range(len(TEXTS)), key=lambda i: -(by_profile[i] + by_product[i])
    )
    for v in ranked:
        s = v.score
        assert s is not None and s.relevance_source == "cross_encoder"
        assert s.profile_relevance == pytest.approx(by_profile[v.index], abs=1e-4)
        assert s.product_relevance == pytest.approx(by_product[v.index], abs=1e-4)
        assert 0.0 < s.product_relevance < 1.0  # sigmoid activation of a 1-label cross-encoder
        assert s.diversity_penalty == 0.0


def test_cross_encoder_ranking_is_deterministic_and_keeps_mmr(tiny_cross_encoder_dir: Path) -> None:
    ranker = Ranker.from_settings(
        RankingSettings(cross_encoder_path=tiny_cross_encoder_dir, embedder_dtype=FP32)
    )
    items = [(make_request(), make_variants(*TEXTS), 3), (make_request(), [], 3)]
    first = ranker.rank_many(items)
    assert ranker.rank_many(items) == first
    assert len(first[0]) == 3 and first[1] == []
    penalties = [v.score.diversity_penalty for v in first[0] if v.score]
    assert penalties[0] == 0.0 and all(p > 0 for p in penalties[1:])


def test_multi_label_cross_encoder_is_refused(tmp_path: Path) -> None:
    path = build_tiny_cross_encoder(tmp_path, num_labels=2)
    with pytest.raises(ValueError, match="2 labels"):
        Ranker.from_settings(RankingSettings(cross_encoder_path=path, embedder_dtype=FP32))
