"""Best-arm identification (BAI) with fixed confidence: top-two Thompson sampling (Russo 2016) serves, and the
Chernoff / GLR stopping rule of Garivier & Kaufmann 2016 decides when the best arm is known with risk δ.

After every impression, with a the empirical best arm, N the impressions and μ̂ the click rate of each arm,
μ̂_ab the pooled rate of a and b and d the Bernoulli KL divergence::

    Z(t) = min over b ≠ a of  N_a d(μ̂_a, μ̂_ab) + N_b d(μ̂_b, μ̂_ab)      stop when Z(t) > β(t, δ)

and a is named best. Two fixed-horizon baselines for the sample: the *oracle* (``fixed_horizon_sample``:
the smallest equal split that picks the true best arm in 95% of simulated tests, which needs the true rates)
and the *classical* design a practitioner would plan (``classical_ab_sample``: the power formula).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq, minimize_scalar
from scipy.special import ndtr

from experiments.simulate import Scenario

Array = NDArray[np.float64]
Threshold = Literal["heuristic", "gk16", "kk21"]

BATCH = 100  # impressions between allocation updates
DELTA = 0.05  # the stopping rule's risk
TOP_TWO_BETA = 0.5  # the leader's share in top-two Thompson
THRESHOLD: Threshold = "heuristic"
EPS = 1e-12
_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(64)  # Gauss-Hermite: E f(N(m, s²)) = Σ w f(m + √2 s x)/√π


def equal_split_correct(rates: Array, per_arm: int, runs: int, rng: np.random.Generator) -> float:
    """Share of ``runs`` simulated equal-split tests (``per_arm`` impressions each) whose highest observed
    rate is the true best (ties broken at random)."""
    clicks = rng.binomial(per_arm, rates, size=(runs, len(rates))) + rng.random((runs, len(rates))) * 1e-6
    return float((clicks.argmax(axis=1) == int(rates.argmax())).mean())


def fixed_horizon_sample(rates: np.ndarray, target: float = 0.95, runs: int = 4000, seed: int = 0) -> int:
    """The oracle baseline: the smallest total sample (a multiple of 100 per arm) at which an equal split
    picks the best arm in ``target`` of ``runs`` simulated tests. It needs the true rates, and has no test."""
    rng = np.random.default_rng(seed)
    low, high = 100, 100
    while equal_split_correct(rates, high, runs, rng) < target:
        low, high = high, high * 2
    while high - low > 100:
        middle = (low + high) // 200 * 100
        low, high = (
            (middle, high) if equal_split_correct(rates, middle, runs, rng) < target else (low, middle)
        )
    return high * len(rates)


def classical_ab_sample(rates: np.ndarray, alpha: float = 0.05, power: float = 0.8) -> int:
    """The classical design: an equal split sized by the two-sided z-test of two proportions (Cohen's h,
    ``NormalIndPower``) for the smallest gap (best vs second), α Bonferroni-split over the k − 1 comparisons
    of the best with each other arm, at ``power``; the total over the k arms."""
    from statsmodels.stats.power import NormalIndPower  # ~1 s to import: only when asked
    from statsmodels.stats.proportion import proportion_effectsize

    best, second = np.sort(np.asarray(rates, dtype=float))[::-1][:2]
    effect = proportion_effectsize(best, second)
    per_arm = NormalIndPower().solve_power(
        effect_size=effect, alpha=alpha / (len(rates) - 1), power=power, ratio=1.0, alternative="two-sided"
    )
    return math.ceil(float(per_arm)) * len(rates)


def bernoulli_kl(p: Array | float, q: Array | float) -> Array:
    """d(p, q), the KL divergence of Bernoulli(q) from Bernoulli(p), elementwise (clipped into (0, 1))."""
    p = np.clip(p, EPS, 1 - EPS)
    q = np.clip(q, EPS, 1 - EPS)
    return np.asarray(p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q)), dtype=float)


def glr_statistic(clicks: Array, counts: Array) -> tuple[NDArray[np.intp], Array]:
    """(empirical best arm, Z) over the last axis (arms): Z = min over b ≠ a of the GLR statistic
    N_a d(μ̂_a, μ̂_ab) + N_b d(μ̂_b, μ̂_ab) between the empirical best a and b."""
    means = clicks / np.maximum(counts, 1)
    leader = means.argmax(axis=-1)

    def of_leader(values: Array) -> Array:
        return np.take_along_axis(values, leader[..., None], axis=-1)

    n_a = of_leader(counts)
    pooled = (of_leader(clicks) + clicks) / np.maximum(n_a + counts, 1)
    z = n_a * bernoulli_kl(of_leader(means), pooled) + counts * bernoulli_kl(means, pooled)
    z[np.arange(counts.shape[-1]) == leader[..., None]] = np.inf
    return leader, z.min(axis=-1)


def stopping_threshold(t: ArrayLike, delta: float, arms: int, kind: Threshold = THRESHOLD) -> Array:
    """β(t, δ) after t impressions. ``heuristic``: ln((1 + ln t)/δ), the one GK16's experiments use (not
    proven δ-correct); ``gk16``: ln(2t(K − 1)/δ), proven δ-correct for Bernoulli arms in GK16;
    ``kk21``: 2 C(ln((K − 1)/δ)/2) + 6 ln(1 + ln(t/2)), Kaufmann & Koolen 2021's mixture-martingale
    threshold with their approximation C(x) ≈ x + 4 ln(1 + x + √(2x))."""
    elapsed: Array = np.maximum(np.asarray(t, dtype=float), 2.0)
    if kind == "heuristic":
        return np.log((1 + np.log(elapsed)) / delta)
    if kind == "gk16":
        return np.log(2 * elapsed * (arms - 1) / delta)
    if kind == "kk21":
        x = math.log((arms - 1) / delta) / 2
        return 2 * (x + 4 * math.log(1 + x + math.sqrt(2 * x))) + 6 * np.log(1 + np.log(elapsed / 2))
    raise ValueError(f"unknown threshold {kind!r}; known: heuristic, gk16, kk21")


def characteristic_time(rates: np.ndarray, beta: float | None = None) -> tuple[float, float]:
    """(T*, the best arm's share): E[τ] ≥ T* kl(δ, 1 − δ) for any δ-correct rule (GK16, Theorem 1). With
    ``beta`` the best arm's share is fixed at β (T*_β, what top-two sampling with β reaches)."""
    rates = np.asarray(rates, dtype=float)
    best = int(rates.argmax())
    others = np.delete(rates, best)

    def cost(share: float, weight: float, rate: float) -> float:  # the pair's GLR rate per impression
        pooled = (share * rates[best] + weight * rate) / (share + weight)
        return float(share * bernoulli_kl(rates[best], pooled) + weight * bernoulli_kl(rate, pooled))

    def inverse_time(share: float) -> float:
        def weights_for(c: float) -> float:  # Σ_b w_b with cost(share, w_b, μ_b) = c
            return sum(brentq(lambda w, r=r: cost(share, w, r) - c, 1e-15, 1e6) for r in others)

        ceiling = min(cost(share, 1e6, r) for r in others)
        return float(brentq(lambda c: weights_for(c) - (1 - share), ceiling * 1e-6, ceiling * (1 - 1e-9)))

    if beta is not None:
        return 1 / inverse_time(beta), beta
    found = minimize_scalar(lambda s: -inverse_time(s), bounds=(0.05, 0.95), method="bounded")
    return 1 / -float(found.fun), float(found.x)


def probability_best(alpha: Array, beta: Array) -> Array:
    """P(each arm has the highest rate) under Beta(α, β) posteriors, over the last axis: each posterior
    is approximated by a normal and the integral taken by Gauss-Hermite quadrature, so small probabilities
    (which Monte Carlo rounds to 0) stay positive."""
    total = alpha + beta
    mean, sd = alpha / total, np.sqrt(alpha * beta / (total**2 * (total + 1)))
    x = mean[..., :, None] + math.sqrt(2) * sd[..., :, None] * _NODES  # (..., i, node)
    # P(arm j's rate is below x) at arm i's nodes: (..., i, j, node)
    below = ndtr((x[..., :, None, :] - mean[..., None, :, None]) / sd[..., None, :, None])
    arms = alpha.shape[-1]
    below[..., np.arange(arms), np.arange(arms), :] = 1.0
    p = below.prod(axis=-2) @ _WEIGHTS / math.sqrt(math.pi)
    return np.asarray(p / p.sum(axis=-1, keepdims=True), dtype=float)


def top_two_allocation(best: Array, beta: float) -> Array:
    """Top-two Thompson's arm probabilities from the probabilities of being best, over the last axis: the
    leader with probability β, else a challenger, drawn as argmax of fresh samples until it differs."""
    arms = best.shape[-1]
    rest = best @ (1 - np.eye(arms))  # 1 − p_i, summed without cancellation
    odds = best / np.maximum(rest, 1e-300)  # challenger j given leader i: p_j / (1 − p_i)
    probabilities = beta * best + (1 - beta) * best * (odds.sum(axis=-1, keepdims=True) - odds)
    return np.asarray(probabilities / probabilities.sum(axis=-1, keepdims=True), dtype=float)


def top_two_glr_runs(
    rates: np.ndarray,
    seeds: range | list[int],
    delta: float = DELTA,
    threshold: Threshold = THRESHOLD,
    beta: float = TOP_TWO_BETA,
    cap: int = 1_000_000,
    check_every: int = 1,
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Top-two Thompson with GLR stopping, one run per seed (all runs advance together, a batch at a time;
    a seed's run does not depend on the other seeds); Z is checked every ``check_every`` impressions (a
    divisor of ``BATCH``). (impressions used, whether the named arm is the true best, whether it stopped
    before ``cap``: a run that reaches the cap names its empirical best)."""
    if BATCH % check_every:
        raise ValueError(f"check_every must divide the batch of {BATCH}")
    rates = np.asarray(rates, dtype=float)
    arms, runs = len(rates), len(seeds)
    generators = [np.random.default_rng([seed, 7]) for seed in seeds]
    clicks, counts = np.zeros((runs, arms)), np.zeros((runs, arms))
    used, named = np.full(runs, cap, dtype=np.int64), np.zeros(runs, dtype=np.intp)
    stopped = np.zeros(runs, dtype=bool)
    steps = np.arange(check_every, BATCH + 1, check_every)  # impressions into the batch at each check
    active, served = np.arange(runs), 0
    while active.size and served < cap:
        posterior = probability_best(1 + clicks[active], 1 + counts[active] - clicks[active])
        edges = top_two_allocation(posterior, beta).cumsum(axis=1)
        luck = np.stack([generators[run].random((2, BATCH)) for run in active])
        served_arm = np.minimum((luck[:, 0, :, None] > edges[:, None, :]).sum(axis=2), arms - 1)
        shown = served_arm[..., None] == np.arange(arms)  # (run, impression, arm)
        clicked = shown & (luck[:, 1, :, None] < rates)
        seen = counts[active, None, :] + shown.cumsum(axis=1)[:, steps - 1, :]  # (run, check, arm)
        hits = clicks[active, None, :] + clicked.cumsum(axis=1)[:, steps - 1, :]
        leader, z = glr_statistic(hits, seen)
        over = z > stopping_threshold(served + steps, delta, arms, threshold)
        counts[active], clicks[active] = seen[:, -1], hits[:, -1]
        done, first = over.any(axis=1), over.argmax(axis=1)
        finished = active[done]
        used[finished] = served + steps[first[done]]
        named[finished] = leader[done, first[done]]
        stopped[finished] = True
        active, served = active[~done], served + BATCH
    named[active] = (clicks[active] / np.maximum(counts[active], 1)).argmax(axis=1)
    return used, named == int(rates.argmax()), stopped


# The goal row's baseline: the fixed-horizon A/B test as it is planned (the power formula), the sample a
# team would have committed to. The oracle is reported beside it but cannot be the goal's yardstick: it is
# sized with the true rates, and no δ-correct rule can come under it at δ = 0.05 (Garivier & Kaufmann's
# lower bound T* kl(δ, 1 − δ) is already above it: ``lower_bound_share_of_oracle``).
GOAL_BASELINE = "classical"
CLASSICAL_DESIGN = (
    "equal split; two-sided z-test of two proportions (Cohen's h, statsmodels NormalIndPower) for the best "
    "vs the second arm; alpha 0.05 Bonferroni-split over the k - 1 comparisons with the best; power 0.8"
)


def _figures(
    used: NDArray[np.int64], correct: NDArray[np.bool_], oracle: int, classical: int
) -> dict[str, Any]:
    """Correct rate (with its 95% Wilson interval) and mean sample of some runs, and its share of each
    baseline."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(int(correct.sum()), len(correct), method="wilson")
    mean = float(used.mean())
    return {
        "runs": len(used),
        "correct": float(correct.mean()),
        "correct_95ci": [round(float(low), 4), round(float(high), 4)],
        "mean_sample": mean,
        "median_sample": float(np.median(used)),
        "share_of_oracle": mean / oracle,
        "share_of_classical": mean / classical,
    }


def simulate_bai(
    scenario: Scenario,
    check_seeds: int = 0,
    delta: float = DELTA,
    threshold: Threshold = THRESHOLD,
    beta: float = TOP_TWO_BETA,
    check_every: int = 1,
) -> dict[str, Any]:
    """Top-two Thompson with GLR stopping over the scenario's seeds (capped at its impressions): accuracy,
    samples and their share of both baselines; with ``check_seeds`` above the scenario's seeds, the same
    figures over that many seeds (the scenario's seeds first) under ``check``."""
    rates = np.asarray(next(iter(scenario.ctr.values())), dtype=float)
    seeds = range(scenario.first_seed, scenario.first_seed + max(scenario.seeds, check_seeds))
    used, correct, stopped = top_two_glr_runs(
        rates, seeds, delta, threshold, beta, cap=scenario.impressions, check_every=check_every
    )
    oracle, classical = fixed_horizon_sample(rates), classical_ab_sample(rates)
    t_star, best_share = characteristic_time(rates)
    lower = t_star * float(bernoulli_kl(1 - delta, delta))
    main = _figures(used[: scenario.seeds], correct[: scenario.seeds], oracle, classical)
    return {
        "rule": (
            f"top-two Thompson (beta {beta}, batches of {BATCH}) + Chernoff/GLR stopping (GK16), threshold "
            f"{threshold}, delta {delta}, checked every {check_every} impression(s)"
        ),
        "delta": delta,
        "threshold": threshold,
        "top_two_beta": beta,
        **main,
        "stopped_before_cap": float(stopped[: scenario.seeds].mean()),
        "oracle_fixed_horizon_sample": oracle,
        "classical_fixed_horizon_sample": classical,
        "classical_design": CLASSICAL_DESIGN,
        "classical_correct": equal_split_correct(
            rates, classical // len(rates), 4000, np.random.default_rng(0)
        ),
        "goal_baseline": GOAL_BASELINE,
        "share_of_goal_baseline": main[f"share_of_{GOAL_BASELINE}"],
        "characteristic_time": t_star,
        "optimal_best_share": best_share,
        "lower_bound_sample": lower,
        "lower_bound_share_of_oracle": lower / oracle,
        **({"check": _figures(used, correct, oracle, classical)} if len(seeds) > scenario.seeds else {}),
    }
