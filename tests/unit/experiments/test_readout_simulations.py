"""The issue's checks of the readout, at their full sizes (fixed seeds; ~15 s): A/A peeking, interval
coverage and the sample-ratio test. ``bench/bench_experiment_stats.py`` prints the same figures."""

from __future__ import annotations

import pytest

from tests.support import ab_simulation


@pytest.mark.parametrize("arms", [2, 4])
def test_an_aa_experiment_peeked_20_times_rarely_declares_a_winner(arms: int) -> None:
    rates = ab_simulation.aa_false_winners(seed=10 + arms, simulations=1000, arms=arms, looks=20)
    assert rates["always_valid"] <= 0.065, rates
    assert rates["fixed_horizon_peeked"] > 2 * rates["always_valid"], rates  # what peeking costs without it


def test_rate_and_lift_intervals_cover_the_truth() -> None:
    covered = ab_simulation.coverage(seed=13, simulations=2000, units_per_arm=20_000)
    assert covered["ctr_interval"] >= 0.94 and covered["lift_interval"] >= 0.94, covered
    assert covered["always_valid_lift_interval"] >= covered["lift_interval"], covered


def test_sample_ratio_mismatch_is_flagged_and_fair_splits_look_uniform() -> None:
    checks = ab_simulation.sample_ratio_checks(seed=14, simulations=10_000, units=200_000, loss=0.025)
    assert checks["flagged_with_loss"] >= 0.95, checks
    assert checks["fair_uniformity_ks_p"] > 0.01, checks
