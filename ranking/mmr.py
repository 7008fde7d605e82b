"""Duplicate removal and Maximal Marginal Relevance over small candidate sets (pure functions).

MMR picks, one at a time, the candidate with the highest ``lam * relevance - (1 - lam) * max_sim``, where
``max_sim`` is its highest cosine to an already picked candidate (clamped at 0, so being unlike the
picks is never a bonus). Ties go to the more relevant candidate, then to the lower index, so the result
is a pure function of the inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pick:
    """One chosen candidate: its index, MMR score and the diversity penalty inside that score."""

    index: int
    score: float
    penalty: float


def drop_duplicates(
    keys: Sequence[str],
    relevance: Sequence[float],
    similarity: Sequence[Sequence[float]],
    threshold: float,
) -> list[int]:
    """Indices to keep, ascending: from each group of exact (same key) or near duplicates (cosine above
    ``threshold``) only the most relevant survives (the lowest index on ties)."""
    order = sorted(range(len(keys)), key=lambda i: (-relevance[i], i))
    kept: list[int] = []
    seen: set[str] = set()
    for i in order:
        if keys[i] in seen or any(similarity[i][j] > threshold for j in kept):
            continue
        kept.append(i)
        seen.add(keys[i])
    return sorted(kept)


def mmr_select(
    relevance: Sequence[float],
    similarity: Sequence[Sequence[float]],
    k: int,
    lam: float,
    candidates: Sequence[int] | None = None,
    picked: Sequence[int] = (),
) -> list[Pick]:
    """Greedy MMR: up to ``k`` picks from ``candidates`` (default: all), best first; ``picked`` were
    chosen before (a higher tier) and count for diversity only."""
    remaining = list(range(len(relevance)) if candidates is None else candidates)
    max_sim = {i: max([0.0, *(float(similarity[i][j]) for j in picked)]) for i in remaining}
    picks: list[Pick] = []
    while remaining and len(picks) < k:

        def key(i: int) -> tuple[float, float, int]:
            return (lam * relevance[i] - (1.0 - lam) * max_sim[i], relevance[i], -i)

        best = max(remaining, key=key)
        penalty = (1.0 - lam) * max_sim[best]
        picks.append(Pick(best, lam * relevance[best] - penalty, penalty))
        remaining.remove(best)
        for j in remaining:
            max_sim[j] = max(max_sim[j], float(similarity[j][best]))
    return picks
