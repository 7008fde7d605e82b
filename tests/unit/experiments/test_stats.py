"""The readout's statistics against references: a linearized unit-level computation, a numerical inversion
of the always-valid interval, and known-answer cases for SRM and BH."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from experiments import stats


def unit_sums(y: np.ndarray, x: np.ndarray) -> stats.UnitSums:
    """The per-arm sums the database query returns, from raw per-unit arrays."""
    return stats.UnitSums.of(y, x)


def test_the_ratio_standard_error_is_the_linearized_unit_level_one() -> None:
    rng = np.random.default_rng(3)
    impressions = rng.integers(1, 6, size=5000).astype(float)
    clicks = rng.binomial(impressions.astype(int), 0.03).astype(float)
    estimate = stats.ratio(unit_sums(clicks, impressions))
    r = clicks.sum() / impressions.sum()
    influence = (clicks - r * impressions) / impressions.mean()  # the delta method's linearization
    assert estimate.value == pytest.approx(r)
    assert estimate.std_error == pytest.approx(influence.std(ddof=1) / np.sqrt(len(clicks)), rel=1e-9)


def test_one_unit_or_no_impressions_gives_no_standard_error() -> None:
    one = stats.ratio(unit_sums(np.array([1.0]), np.array([2.0])))
    assert one.value == 0.5 and np.isnan(one.std_error)
    empty = stats.ratio(unit_sums(np.zeros(3), np.zeros(3)))
    assert np.isnan(empty.value)


def test_the_lift_standard_error_matches_a_cluster_bootstrap() -> None:
    rng = np.random.default_rng(5)
    arms = []
    for rate in (0.02, 0.025):
        impressions = rng.integers(1, 6, size=20_000).astype(float)
        arms.append((rng.binomial(impressions.astype(int), rate).astype(float), impressions))
    lift = stats.relative_lift(stats.ratio(unit_sums(*arms[1])), stats.ratio(unit_sums(*arms[0])))
    boot = []
    for _ in range(400):
        picks = [rng.integers(0, len(y), len(y)) for y, _ in arms]
        c, t = [(y[p].sum() / x[p].sum()) for (y, x), p in zip(arms, picks, strict=True)]
        boot.append(t / c - 1)
    assert lift.std_error == pytest.approx(np.std(boot, ddof=1), rel=0.12)


def test_the_always_valid_p_value_is_where_the_interval_reaches_zero() -> None:
    estimate, units, rho2 = stats.Estimate(0.16, 0.04), 20_000, stats.mixture_rho2()
    p = stats.always_valid_p_value(estimate, units, rho2)

    def lower_end(alpha: float) -> float:
        return float(stats.always_valid_interval(estimate, units, alpha, rho2)[0])

    assert lower_end(stats.DEFAULT_ALPHA) > 0 and p < stats.DEFAULT_ALPHA
    assert optimize.brentq(lower_end, 1e-12, 0.9999) == pytest.approx(p, rel=1e-6)


def test_the_always_valid_interval_is_wider_than_the_fixed_one() -> None:
    estimate = stats.Estimate(0.05, 0.02)
    fixed_low, fixed_high = stats.fixed_interval(estimate)
    low, high = stats.always_valid_interval(estimate, 40_000)
    assert low < fixed_low and high > fixed_high
    assert stats.always_valid_p_value(estimate, 40_000) > stats.fixed_p_value(estimate)


def test_probability_best_sums_to_one_and_favours_the_clear_winner() -> None:
    best = stats.probability_best(
        [stats.Estimate(0.020, 0.001), stats.Estimate(0.030, 0.001), stats.Estimate(0.021, 0.001)]
    )
    assert best.sum() == pytest.approx(1.0) and best[1] > 0.99
    tie = stats.probability_best([stats.Estimate(0.02, 0.001), stats.Estimate(0.02, 0.001)])
    assert tie[0] == pytest.approx(0.5, abs=0.02)


def test_sample_ratio_and_benjamini_hochberg_known_answers() -> None:
    assert stats.sample_ratio_p_value([5000, 5000], [1, 1]) == pytest.approx(1.0)
    # 50,500 vs 49,500 at 50/50: chi-square = 10, df 1 → p = 0.001565
    assert stats.sample_ratio_p_value([50_500, 49_500], [1, 1]) == pytest.approx(0.0015654, rel=1e-3)
    assert stats.sample_ratio_p_value([9000, 1000], [9, 1]) == pytest.approx(1.0)
    adjusted = stats.benjamini_hochberg([0.01, 0.04, np.nan, 0.03])
    assert np.allclose(adjusted[[0, 1, 3]], [0.03, 0.04, 0.04]) and np.isnan(adjusted[2])
