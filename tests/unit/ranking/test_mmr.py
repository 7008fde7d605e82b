"""Duplicate removal and MMR on hand-made relevance and similarity values."""

from __future__ import annotations

import pytest

from ranking.mmr import drop_duplicates, mmr_select

# 0 and 1 are paraphrases (0.9), 2 is different from both.
SIM = [
    [1.0, 0.9, 0.1],
    [0.9, 1.0, 0.2],
    [0.1, 0.2, 1.0],
]


def test_relevance_only_orders_by_relevance() -> None:
    picks = mmr_select([0.9, 0.88, 0.6], SIM, k=3, lam=1.0)
    assert [p.index for p in picks] == [0, 1, 2]
    assert [p.penalty for p in picks] == [0.0, 0.0, 0.0]
    assert [p.score for p in picks] == [0.9, 0.88, 0.6]


def test_paraphrase_is_demoted_by_mmr() -> None:
    picks = mmr_select([0.9, 0.88, 0.6], SIM, k=3, lam=0.5)
    assert [p.index for p in picks] == [0, 2, 1]
    assert picks[0].index == 0 and picks[0].penalty == 0.0 and picks[0].score == pytest.approx(0.45)
    # 2 pays 0.5 * 0.1 against 0; 1 pays 0.5 * max(0.9, 0.2).
    assert picks[1].penalty == pytest.approx(0.05) and picks[1].score == pytest.approx(0.25)
    assert picks[2].penalty == pytest.approx(0.45) and picks[2].score == pytest.approx(-0.01)


def test_scores_never_increase_down_the_ranking() -> None:
    relevance = [0.5, 0.7, 0.65, 0.2, 0.69]
    sim = [[1.0 if i == j else 0.3 + 0.1 * ((i * j) % 5) for j in range(5)] for i in range(5)]
    scores = [p.score for p in mmr_select(relevance, sim, k=5, lam=0.6)]
    assert scores == sorted(scores, reverse=True)


def test_k_limits_and_candidates_subset() -> None:
    assert [p.index for p in mmr_select([0.9, 0.88, 0.6], SIM, k=1, lam=0.5)] == [0]
    assert len(mmr_select([0.9, 0.88, 0.6], SIM, k=10, lam=0.5)) == 3
    assert mmr_select([0.9, 0.88, 0.6], SIM, k=0, lam=0.5) == []
    assert [p.index for p in mmr_select([0.9, 0.88, 0.6], SIM, k=3, lam=0.5, candidates=[1, 2])] == [1, 2]
    assert mmr_select([], [], k=3, lam=0.5) == []


def test_ties_go_to_relevance_then_lower_index() -> None:
    # lam = 0: every first-round MMR score is 0, so the most relevant wins, then the lowest index.
    assert mmr_select([0.2, 0.9, 0.9], SIM, k=1, lam=0.0)[0].index == 1
    assert [
        p.index for p in mmr_select([0.5, 0.5, 0.5], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], k=3, lam=0.7)
    ] == [
        0,
        1,
        2,
    ]


def test_negative_similarity_is_no_bonus() -> None:
    sim = [[1.0, -0.8, 0.0], [-0.8, 1.0, 0.0], [0.0, 0.0, 1.0]]
    picks = mmr_select([0.9, 0.5, 0.5], sim, k=3, lam=0.5)
    # 1 is opposite to 0 but gets no bonus over 2: equal relevance, so the lower index wins.
    assert [p.index for p in picks] == [0, 1, 2]
    assert picks[1].penalty == 0.0


def test_exact_duplicates_keep_the_most_relevant() -> None:
    keys = ["a", "b", "a"]
    sim = [[1.0, 0.1, 1.0], [0.1, 1.0, 0.1], [1.0, 0.1, 1.0]]
    assert drop_duplicates(keys, [0.3, 0.5, 0.4], sim, threshold=0.95) == [1, 2]
    # Ties keep the lower index.
    assert drop_duplicates(keys, [0.4, 0.5, 0.4], sim, threshold=0.95) == [0, 1]


def test_exact_duplicates_are_dropped_even_at_threshold_one() -> None:
    sim = [[1.0, 1.0], [1.0, 1.0]]
    assert drop_duplicates(["same", "same"], [0.5, 0.5], sim, threshold=1.0) == [0]
    assert drop_duplicates(["one", "two"], [0.5, 0.5], sim, threshold=1.0) == [0, 1]


def test_near_duplicates_above_threshold_only() -> None:
    assert drop_duplicates(["a", "b", "c"], [0.9, 0.88, 0.6], SIM, threshold=0.85) == [0, 2]
    assert drop_duplicates(["a", "b", "c"], [0.9, 0.88, 0.6], SIM, threshold=0.9) == [0, 1, 2]
    assert drop_duplicates([], [], [], threshold=0.9) == []


def test_duplicate_chains_are_judged_against_kept_variants_only() -> None:
    # 0~1 and 1~2 are duplicates but 0 and 2 are not: dropping 1 leaves 0 and 2.
    sim = [[1.0, 0.97, 0.9], [0.97, 1.0, 0.97], [0.9, 0.97, 1.0]]
    assert drop_duplicates(["a", "b", "c"], [0.9, 0.8, 0.7], sim, threshold=0.95) == [0, 2]


def test_earlier_picks_count_for_diversity_only() -> None:
    similarity = [[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]]
    relevance = [0.9, 0.8, 0.5]
    # candidate 0 was picked in a higher tier: 1 is its near twin, so 2 goes first
    picks = mmr_select(relevance, similarity, 2, 0.5, candidates=[1, 2], picked=[0])
    assert [p.index for p in picks] == [2, 1] and picks[1].penalty == pytest.approx(0.5 * 0.9)
