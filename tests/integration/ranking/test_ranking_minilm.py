"""The ranker on the real all-MiniLM-L6-v2: relevance, paraphrases, duplicates, batching, determinism."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from core.schema import Variant
from ranking.embedder import Embedder
from ranking.rank import Ranker
from ranking.settings import RankingSettings, packaged_minilm_path
from tests.unit.ranking.fakes import make_request, make_variants

DRY = "Stay dry on muddy trails with the waterproof Peak TrailRunner X."
DRY_PARAPHRASE = "Keep your feet dry on wet, muddy trails in the waterproof Peak TrailRunner X."
GRIP = "Grip that holds on steep rocky descents: meet the Peak TrailRunner X outsole."
KETTLE = "Brew the perfect cup of tea with our new electric kettle."


def bodies(variants: list[Variant]) -> list[str]:
    return [v.fields["body"] for v in variants]


def test_embeddings_are_unit_rows_in_order(minilm_embedder: Embedder) -> None:
    vectors = minilm_embedder.embed([DRY, KETTLE, DRY])
    assert vectors.shape == (3, minilm_embedder.dimension) == (3, 384)
    assert vectors.dtype == torch.float32
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(vectors[0], vectors[2], atol=1e-6)
    assert minilm_embedder.embed([]).shape == (0, 384)


def test_relevant_variant_beats_irrelevant(minilm_ranker: Ranker) -> None:
    ranked = minilm_ranker.rank(make_request(), make_variants(KETTLE, DRY), k=2)
    assert bodies(ranked) == [DRY, KETTLE]
    top, last = (v.score for v in ranked)
    assert top is not None and last is not None
    assert top.profile_relevance > last.profile_relevance + 0.2
    assert top.product_relevance > last.product_relevance + 0.4
    assert top.relevance_source == "embedding"


def test_paraphrase_is_demoted_by_mmr(minilm_embedder: Embedder) -> None:
    variants = make_variants(DRY, DRY_PARAPHRASE, GRIP, KETTLE)
    relevance_only = Ranker(minilm_embedder, RankingSettings(mmr_lambda=1.0)).rank(
        make_request(), variants, k=4
    )
    assert bodies(relevance_only)[:3] == [DRY_PARAPHRASE, DRY, GRIP]  # the paraphrase pair leads on relevance
    ranked = Ranker(minilm_embedder, RankingSettings()).rank(make_request(), variants, k=4)
    assert bodies(ranked) == [DRY_PARAPHRASE, GRIP, DRY, KETTLE]
    penalty = {v.fields["body"]: v.score.diversity_penalty for v in ranked if v.score}
    assert penalty[DRY] > penalty[GRIP] > 0 == penalty[DRY_PARAPHRASE]


def test_near_duplicates_are_removed(minilm_ranker: Ranker) -> None:
    variants = make_variants(DRY, GRIP, DRY.replace(".", "!"), DRY.upper())
    ranked = minilm_ranker.rank(make_request(), variants, k=4)
    assert len(ranked) == 2
    assert GRIP in bodies(ranked)
    assert sum(v.index in (0, 2, 3) for v in ranked) == 1


def test_contrasting_profiles_get_different_winners(minilm_ranker: Ranker) -> None:
    product = {
        "name": "Northwind Kettle",
        "brand": "Casa",
        "description": "Electric kettle",
        "category": "kitchen",
    }
    tea = make_request(
        profile={"id": "a", "interests": ["gardening", "tea"], "recent_activity": ["bought a teapot"]},
        product=product,
    )
    gamer = make_request(
        profile={
            "id": "b",
            "interests": ["gaming", "esports"],
            "recent_activity": ["searched for headphones"],
        },
        product=product,
    )
    variants = make_variants(
        "A calm cup of tea after an afternoon in the garden, from the Casa Northwind Kettle.",
        "Hot water in a flash between gaming sessions with the Casa Northwind Kettle.",
    )
    top_tea, top_gamer = minilm_ranker.rank_many([(tea, variants, 1), (gamer, variants, 1)])
    assert [v.index for v in top_tea] == [0]
    assert [v.index for v in top_gamer] == [1]


def test_rank_many_is_one_encode_call_and_matches_rank(
    minilm_ranker: Ranker, minilm_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [
        (make_request(), make_variants(DRY, DRY_PARAPHRASE, GRIP, KETTLE), 3),
        (
            make_request(profile={"id": "anon"}, product={"name": "Northwind Kettle"}),
            make_variants(KETTLE, GRIP),
            2,
        ),
        (make_request(), [], 2),
    ]
    single = [minilm_ranker.rank(*item) for item in items]
    calls: list[int] = []
    encode = minilm_embedder.model.encode

    def spy(texts: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(texts))
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(minilm_embedder.model, "encode", spy)
    minilm_ranker.context_cache.clear()  # the session ranker has seen these profiles and products
    many = minilm_ranker.rank_many(items)
    assert calls == [4 + 2 + 1]  # each distinct text once: 4 variants, 2 products, 1 profile (anon has none)
    again = minilm_ranker.rank_many(items)
    assert calls[1:] == [4]  # profile and product embeddings now come from the cache
    assert again == many
    assert [[v.index for v in r] for r in many] == [[v.index for v in r] for r in single]
    for got, want in zip(many, single, strict=True):
        for a, b in zip(got, want, strict=True):
            assert a.score is not None and b.score is not None
            assert a.score.score == pytest.approx(b.score.score, abs=1e-3)


def test_cached_context_embeddings_match_fresh_ones(minilm_embedder: Embedder) -> None:
    cached = Ranker(minilm_embedder, RankingSettings())
    uncached = Ranker(minilm_embedder, RankingSettings(embed_cache_size=0))
    rounds = [
        [(make_request(), make_variants(DRY, GRIP), 2)],
        [(make_request(), make_variants(KETTLE, DRY_PARAPHRASE, GRIP), 2)],
        [(make_request(product={"name": "Northwind Kettle"}), make_variants(KETTLE), 1)],
    ]
    for items in rounds:
        for got, want in zip(cached.rank_many(items), uncached.rank_many(items), strict=True):
            assert [v.index for v in got] == [v.index for v in want]
            for a, b in zip(got, want, strict=True):
                assert a.score is not None and b.score is not None
                # the fixture embeds in float32: a row does not depend on the batch it was embedded in
                assert a.score.score == pytest.approx(b.score.score, abs=1e-4)
    assert cached.context_cache.hits >= 2


def test_deterministic(minilm_ranker: Ranker, minilm_settings: RankingSettings) -> None:
    variants = make_variants(KETTLE, DRY, GRIP, DRY_PARAPHRASE)
    first = minilm_ranker.rank(make_request(), variants, k=3)
    assert all(minilm_ranker.rank(make_request(), variants, k=3) == first for _ in range(3))
    assert Ranker.from_settings(minilm_settings).rank(make_request(), variants, k=3) == first


def test_embedder_path_setting_accepts_any_model_folder() -> None:
    settings = RankingSettings(embedder_path=packaged_minilm_path(), embedder_dtype="float32")
    ranked = Ranker.from_settings(settings).rank(make_request(), make_variants(KETTLE, DRY), k=1)
    assert bodies(ranked) == [DRY]
