"""Sticky assignment: the same unit always gets the same arm; units split by the weights; ids are hashed."""

from __future__ import annotations

from collections import Counter

from scipy import stats

from experiments.assignment import assign_arm, new_salt, unit_hash


def test_a_unit_always_gets_the_same_arm_and_experiments_assign_independently() -> None:
    salt = new_salt()
    first = [assign_arm(salt, "exp_a", f"user-{i}", [1, 1]) for i in range(2000)]
    assert first == [assign_arm(salt, "exp_a", f"user-{i}", [1, 1]) for i in range(2000)]
    other = [assign_arm(salt, "exp_b", f"user-{i}", [1, 1]) for i in range(2000)]
    agreement = sum(a == b for a, b in zip(first, other, strict=True)) / 2000
    assert 0.45 < agreement < 0.55  # independent, not the same split


def test_units_split_by_the_weights() -> None:
    salt = new_salt()
    counts = Counter(assign_arm(salt, "exp_a", f"u{i}", [7, 2, 1]) for i in range(30_000))
    observed = [counts[0], counts[1], counts[2]]
    assert stats.chisquare(observed, [21_000, 6_000, 3_000]).pvalue > 0.001


def test_the_stored_unit_id_is_a_keyed_hash() -> None:
    salt, other = new_salt(), new_salt()
    hashed = unit_hash(salt, "exp_a", "user-42")
    assert hashed == unit_hash(salt, "exp_a", "user-42") and "user-42" not in hashed and len(hashed) == 64
    assert hashed != unit_hash(other, "exp_a", "user-42") and hashed != unit_hash(salt, "exp_b", "user-42")
