"""Ranker logic with the bag-of-words embedder: relevance, weights, dedup, MMR, batching, copies."""

from __future__ import annotations

from typing import Any

import pytest

from ranking.rank import Ranker
from ranking.settings import RankingSettings
from tests.unit.ranking.fakes import FixedScorer, WordEmbedder, make_request, make_variants

IRRELEVANT = "Cozy knitted sweaters for chilly evenings at home"
RELEVANT = "Waterproof trail running shoe with a grippy outsole for hiking"
SHOE = "Peak TrailRunner X waterproof trail running shoe"
SHOE_PARAPHRASE = "Peak TrailRunner X is the waterproof trail running shoe"
GRIP = "Grippy outsole for hiking outdoor trails"


def ranker(embedder: WordEmbedder | None = None, **settings: Any) -> Ranker:
    return Ranker(embedder or WordEmbedder(), RankingSettings(**settings))


def bodies(variants: list[Any]) -> list[str]:
    return [v.fields["body"] for v in variants]


def test_relevant_beats_irrelevant() -> None:
    ranked = ranker().rank(make_request(), make_variants(IRRELEVANT, RELEVANT), k=2)
    assert bodies(ranked) == [RELEVANT, IRRELEVANT]
    top, last = ranked[0].score, ranked[1].score
    assert top is not None and last is not None
    assert top.rank == 1 and last.rank == 2
    assert top.profile_relevance > last.profile_relevance
    assert top.product_relevance > last.product_relevance
    assert top.score > last.score


def test_paraphrase_is_demoted_by_mmr() -> None:
    variants = make_variants(SHOE, SHOE_PARAPHRASE, GRIP)
    # Relevance alone puts the paraphrase second ...
    assert bodies(ranker(mmr_lambda=1.0).rank(make_request(), variants, k=3)) == [SHOE, SHOE_PARAPHRASE, GRIP]
    # ... MMR moves it behind the different variant, and says why.
    ranked = ranker(mmr_lambda=0.5).rank(make_request(), variants, k=3)
    assert bodies(ranked) == [SHOE, GRIP, SHOE_PARAPHRASE]
    penalties = [v.score.diversity_penalty for v in ranked if v.score]
    assert penalties[0] == 0.0 and penalties[2] > penalties[1]


def test_score_is_explained_by_its_parts() -> None:
    settings: dict[str, Any] = {"mmr_lambda": 0.6, "profile_weight": 0.3, "product_weight": 0.9}
    for v in ranker(**settings).rank(
        make_request(), make_variants(SHOE, SHOE_PARAPHRASE, GRIP, RELEVANT), k=4
    ):
        s = v.score
        assert s is not None and s.relevance is not None and s.relevance_source == "embedding"
        assert s.relevance == pytest.approx(
            (0.3 * s.profile_relevance + 0.9 * s.product_relevance) / 1.2, abs=2e-4
        )
        assert s.score == pytest.approx(0.6 * s.relevance - s.diversity_penalty, abs=2e-4)


def test_weights_decide_between_profile_and_product_match() -> None:
    about_profile = "For hiking fans who viewed waterproof jackets outdoor"
    about_product = "Peak TrailRunner X footwear grippy outsole"
    variants = make_variants(about_product, about_profile)
    by_profile = ranker(profile_weight=1.0, product_weight=0.0).rank(make_request(), variants, k=2)
    by_product = ranker(profile_weight=0.0, product_weight=1.0).rank(make_request(), variants, k=2)
    assert bodies(by_profile) == [about_profile, about_product]
    assert bodies(by_product) == [about_product, about_profile]


def test_exact_and_near_duplicates_are_removed_first() -> None:
    variants = make_variants(SHOE, "  peak trailrunner x   WATERPROOF trail running shoe", GRIP, SHOE + "!")
    ranked = ranker().rank(make_request(), variants, k=4)
    assert [v.index for v in ranked] == [0, 2]


def test_near_duplicate_threshold_is_a_setting() -> None:
    variants = make_variants(SHOE, SHOE_PARAPHRASE, GRIP)
    assert len(ranker(duplicate_threshold=0.85).rank(make_request(), variants, k=3)) == 2
    assert len(ranker(duplicate_threshold=0.9).rank(make_request(), variants, k=3)) == 3


def test_returns_copies_and_leaves_inputs_alone() -> None:
    variants = make_variants(IRRELEVANT, RELEVANT)
    before = [v.model_dump() for v in variants]
    ranked = ranker().rank(make_request(), variants, k=2)
    assert [v.model_dump() for v in variants] == before
    assert all(v.score is None for v in variants)
    assert ranked[0] is not variants[1] and ranked[0].fields == variants[1].fields
    assert ranked[0].index == 1 and ranked[0].seed == 1


def test_k_and_empty_inputs() -> None:
    r = ranker()
    assert r.rank(make_request(), [], k=3) == []
    assert r.rank(make_request(), make_variants(RELEVANT), k=0) == []
    assert len(r.rank(make_request(), make_variants(RELEVANT, GRIP), k=5)) == 2
    assert r.rank_many([]) == []
    with pytest.raises(ValueError, match="k must be"):
        r.rank(make_request(), make_variants(RELEVANT), k=-1)


def test_nothing_to_embed_makes_no_call() -> None:
    embedder = WordEmbedder()
    assert ranker(embedder).rank_many(
        [(make_request(), [], 3), (make_request(), make_variants(GRIP), 0)]
    ) == [[], []]
    assert embedder.calls == []


def test_rank_many_embeds_everything_in_one_call() -> None:
    embedder = WordEmbedder()
    r = ranker(embedder)
    other = make_request(product={"name": "Northwind Kettle", "description": "Electric kettle"})
    items = [
        (make_request(), make_variants(IRRELEVANT, RELEVANT, SHOE), 2),
        (other, [], 2),
        (other, make_variants("A fast electric kettle for tea", IRRELEVANT), 1),
    ]
    many = r.rank_many(items)
    assert len(embedder.calls) == 1
    # Each distinct text once: 4 variant texts + 2 products + 1 profile (both requests share it).
    assert len(embedder.calls[0]) == len(set(embedder.calls[0])) == 7
    assert many == [r.rank(*item) for item in items]
    assert [len(x) for x in many] == [2, 0, 1]


def test_deterministic() -> None:
    variants = make_variants(SHOE, SHOE_PARAPHRASE, GRIP, RELEVANT, IRRELEVANT)
    first = ranker().rank(make_request(), variants, k=4)
    assert all(ranker().rank(make_request(), variants, k=4) == first for _ in range(3))


def test_profile_without_signals_ranks_on_the_product() -> None:
    request = make_request(profile={"id": "anon"})
    ranked = ranker().rank(request, make_variants(IRRELEVANT, SHOE), k=2)
    assert bodies(ranked) == [SHOE, IRRELEVANT]
    s = ranked[0].score
    assert s is not None and s.profile_relevance == 0.0 and s.relevance == s.product_relevance


def test_cross_encoder_rescores_relevance_in_one_call() -> None:
    scorer = FixedScorer({IRRELEVANT: 0.9, RELEVANT: 0.1})
    r = Ranker(WordEmbedder(), RankingSettings(mmr_lambda=1.0), cross_encoder=scorer)
    ranked = r.rank_many([(make_request(), make_variants(RELEVANT, IRRELEVANT), 2), (make_request(), [], 1)])
    assert bodies(ranked[0]) == [IRRELEVANT, RELEVANT]
    s = ranked[0][0].score
    assert s is not None and s.relevance_source == "cross_encoder"
    assert (s.profile_relevance, s.product_relevance, s.relevance) == (0.9, 0.9, 0.9)
    assert len(scorer.calls) == 1
    # Profile and product pair for each candidate.
    assert len(scorer.calls[0]) == 4


def test_cross_encoder_only_scores_survivors_of_dedup() -> None:
    scorer = FixedScorer({})
    r = Ranker(WordEmbedder(), RankingSettings(), cross_encoder=scorer)
    r.rank(make_request(profile={"id": "anon"}), make_variants(SHOE, SHOE.upper(), GRIP), k=3)
    assert [text for _, text in scorer.calls[0]] == [SHOE, GRIP]


def test_a_variant_with_a_misspelled_word_ranks_after_every_spelled_one() -> None:
    misspelled = "Waterproff trail running shoe with a grippy outsole for hiking"  # RELEVANT, one typo
    variants = make_variants(IRRELEVANT, misspelled)
    assert bodies(ranker(prefer_spelled=False).rank(make_request(), variants, k=2)) == [
        misspelled,
        IRRELEVANT,
    ]
    assert bodies(ranker().rank(make_request(), variants, k=2)) == [IRRELEVANT, misspelled]  # still returned
    german = make_request(profile={"id": "u1", "interests": ["trail running"], "language": "de"})
    assert bodies(ranker().rank(german, variants, k=2)) == [misspelled, IRRELEVANT]  # no English word list
    # the product's own coined words are spelled: "TrailRunner" is in the request
    assert bodies(ranker().rank(make_request(), make_variants(IRRELEVANT, SHOE), k=1)) == [SHOE]
