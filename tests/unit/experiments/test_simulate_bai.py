"""Best-arm identification: the GLR statistic, the thresholds, the baselines and the stopping rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from experiments.policies import top_two_probabilities
from experiments.simulate import load_scenario
from experiments.simulate_bai import (
    GOAL_BASELINE,
    bernoulli_kl,
    characteristic_time,
    classical_ab_sample,
    glr_statistic,
    probability_best,
    simulate_bai,
    stopping_threshold,
    top_two_allocation,
    top_two_glr_runs,
)


def test_bernoulli_kl_is_scipys_relative_entropy() -> None:
    for p, q in [(0.03, 0.027), (0.5, 0.1), (0.0, 0.2), (0.9, 0.99)]:
        assert float(bernoulli_kl(p, q)) == pytest.approx(stats.entropy([p, 1 - p], [q, 1 - q]), rel=1e-9)


def _log_likelihood_ratio(clicks: list[int], counts: list[int], a: int, b: int) -> float:
    """log of max-likelihood over free rates ÷ max-likelihood with arm a's rate = arm b's, directly."""
    pooled = (clicks[a] + clicks[b]) / (counts[a] + counts[b])
    free = sum(stats.binom.logpmf(clicks[i], counts[i], clicks[i] / counts[i]) for i in (a, b))
    tied = sum(stats.binom.logpmf(clicks[i], counts[i], pooled) for i in (a, b))
    return float(free - tied)


def test_glr_statistic_is_the_smallest_log_likelihood_ratio_against_the_empirical_best() -> None:
    clicks, counts = [20, 45, 31], [1000, 1500, 1200]  # rates 2.0%, 3.0%, 2.58%: arm 1 leads
    leader, z = glr_statistic(np.array(clicks, dtype=float), np.array(counts, dtype=float))
    expected = min(_log_likelihood_ratio(clicks, counts, 1, b) for b in (0, 2))
    assert int(leader) == 1
    assert float(z) == pytest.approx(expected, rel=1e-9)
    assert float(z) == pytest.approx(_log_likelihood_ratio(clicks, counts, 1, 2), rel=1e-9)  # the closest


def test_glr_statistic_works_over_leading_axes_and_is_zero_on_a_tie() -> None:
    clicks = np.array([[[20.0, 45, 31], [10, 10, 5]]])
    counts = np.array([[[1000.0, 1500, 1200], [500, 500, 500]]])
    leader, z = glr_statistic(clicks, counts)
    assert leader.shape == z.shape == (1, 2)
    assert z[0, 0] == pytest.approx(_log_likelihood_ratio([20, 45, 31], [1000, 1500, 1200], 1, 2))
    assert z[0, 1] == pytest.approx(0.0, abs=1e-9)


def test_stopping_thresholds_known_values() -> None:
    assert float(stopping_threshold(math.exp(2), 0.05, 4, "heuristic")) == pytest.approx(math.log(60))
    assert float(stopping_threshold(1000, 0.05, 4, "gk16")) == pytest.approx(math.log(120_000))
    x = math.log(60) / 2
    kk21 = 2 * (x + 4 * math.log(1 + x + math.sqrt(2 * x))) + 6 * math.log(1 + math.log(500))
    assert float(stopping_threshold(1000, 0.05, 4, "kk21")) == pytest.approx(kk21)
    t = np.array([1e3, 1e4, 1e5])
    for kind in ("heuristic", "gk16", "kk21"):
        assert np.all(np.diff(stopping_threshold(t, 0.05, 4, kind)) > 0)
        assert np.all(stopping_threshold(t, 0.01, 4, kind) > stopping_threshold(t, 0.05, 4, kind))
    with pytest.raises(ValueError):
        stopping_threshold(10, 0.05, 4, "bogus")  # type: ignore[arg-type]


def test_classical_design_is_the_normal_power_formula() -> None:
    rates = np.array([0.020, 0.024, 0.027, 0.030])
    h = 2 * math.asin(math.sqrt(0.030)) - 2 * math.asin(math.sqrt(0.027))
    z = stats.norm.ppf(1 - 0.05 / 3 / 2) + stats.norm.ppf(0.8)
    assert classical_ab_sample(rates) == math.ceil(2 * z**2 / h**2) * 4


def test_characteristic_time_two_arms_and_the_top_two_bound() -> None:
    rates = np.array([0.03, 0.05])
    middle = 0.04
    expected = 1 / (0.5 * float(bernoulli_kl(0.05, middle)) + 0.5 * float(bernoulli_kl(0.03, middle)))
    assert characteristic_time(rates, beta=0.5)[0] == pytest.approx(expected, rel=1e-6)
    four = np.array([0.020, 0.024, 0.027, 0.030])
    optimal, share = characteristic_time(four)
    assert optimal <= characteristic_time(four, beta=0.5)[0] <= 2 * optimal  # Russo 2016
    assert 0.3 < share < 0.6


def test_probability_best_matches_monte_carlo() -> None:
    alpha = np.array([60.0, 700, 800, 900])
    beta = np.array([3000.0, 30000, 30000, 30000])
    draws = np.random.default_rng(0).beta(alpha, beta, size=(200_000, 4))
    sampled = np.bincount(draws.argmax(axis=1), minlength=4) / len(draws)
    assert probability_best(alpha, beta) == pytest.approx(sampled, abs=0.005)
    assert probability_best(alpha[None], beta[None]).shape == (1, 4)


def test_top_two_allocation_matches_the_policy_module() -> None:
    rng = np.random.default_rng(1)
    best = rng.dirichlet(np.ones(4), size=5)
    expected = np.stack([top_two_probabilities(p, 0.5) for p in best])
    assert top_two_allocation(best, 0.5) == pytest.approx(expected, rel=1e-9)


def test_glr_stopping_names_the_best_arm_on_an_easy_instance() -> None:
    rates = np.array([0.02, 0.06, 0.03])
    used, correct, stopped = top_two_glr_runs(rates, range(20), cap=100_000)
    assert correct.all() and stopped.all()
    assert used.max() < 20_000 and used.min() > 0


def test_a_seeds_run_does_not_depend_on_the_other_seeds() -> None:
    rates = np.array([0.02, 0.06, 0.03])
    together = top_two_glr_runs(rates, [4, 5, 6], cap=100_000)
    alone = top_two_glr_runs(rates, [5], cap=100_000)
    assert [int(together[0][1])] == alone[0].tolist()


def test_simulate_bai_carries_both_baselines() -> None:
    easy = {"all": [0.02, 0.06, 0.03, 0.04]}
    scenario = load_scenario("BAI").model_copy(update={"seeds": 3, "ctr": easy})
    result = simulate_bai(scenario, check_seeds=6)
    assert result["goal_baseline"] == GOAL_BASELINE == "classical"
    assert result["share_of_goal_baseline"] == result["share_of_classical"]
    assert result["oracle_fixed_horizon_sample"] < result["classical_fixed_horizon_sample"]
    assert result["share_of_oracle"] == pytest.approx(
        result["mean_sample"] / result["oracle_fixed_horizon_sample"]
    )
    assert result["runs"] == 3 and result["check"]["runs"] == 6
    assert result["correct"] == 1.0 and result["classical_correct"] > 0.95
