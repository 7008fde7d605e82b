"""Simulated experiments for the readout's checks (tests) and figures (bench/bench_experiment_stats.py).

Units arrive in order; each sees 1-5 impressions and clicks each with the arm's true CTR; a conversion
follows a click with probability ``conversion_rate``. Sums are taken over units exactly as the store's
query does, and the same :mod:`experiments.stats` functions compute the p-values and intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from experiments import stats

Array = np.ndarray


@dataclass(frozen=True)
class SimulatedArms:
    """Cumulative per-unit sums at each look: arrays shaped (simulations, looks, arms)."""

    units: Array
    impressions: Array
    clicks: Array
    conversions: Array
    impressions_sq: Array
    clicks_sq: Array
    conversions_sq: Array
    impressions_clicks: Array
    clicks_conversions: Array

    def sums(self, metric: str) -> stats.UnitSums:
        """The unit sums of ``ctr`` or ``conversion_rate``, every simulation, look and arm at once."""
        if metric == "ctr":
            return stats.UnitSums(
                self.units,
                self.clicks,
                self.impressions,
                self.clicks_sq,
                self.impressions_sq,
                self.impressions_clicks,
            )
        return stats.UnitSums(
            self.units,
            self.conversions,
            self.clicks,
            self.conversions_sq,
            self.clicks_sq,
            self.clicks_conversions,
        )


def simulate(
    rng: np.random.Generator,
    simulations: int,
    units_per_arm: int,
    ctrs: list[float],
    looks: int = 1,
    conversion_rate: float = 0.1,
) -> SimulatedArms:
    """``simulations`` experiments, one arm per entry of ``ctrs``; sums at ``looks`` evenly spaced looks."""
    shape = (simulations, len(ctrs), units_per_arm)
    impressions = rng.integers(1, 6, size=shape)
    clicks = rng.binomial(impressions, np.asarray(ctrs)[None, :, None])
    conversions = rng.binomial(clicks, conversion_rate)
    at = np.linspace(units_per_arm / looks, units_per_arm, looks).astype(int) - 1

    def cumulative(values: Array) -> Array:
        return np.cumsum(values, axis=2, dtype=float)[:, :, at].transpose(0, 2, 1)

    units = np.broadcast_to((at + 1).astype(float)[None, :, None], (simulations, looks, len(ctrs)))
    return SimulatedArms(
        units=np.array(units),
        impressions=cumulative(impressions),
        clicks=cumulative(clicks),
        conversions=cumulative(conversions),
        impressions_sq=cumulative(impressions**2),
        clicks_sq=cumulative(clicks**2),
        conversions_sq=cumulative(conversions**2),
        impressions_clicks=cumulative(impressions * clicks),
        clicks_conversions=cumulative(clicks * conversions),
    )


def lift_p_values(
    arms: SimulatedArms, always_valid: bool, min_events: int = stats.DEFAULT_MIN_EVENTS
) -> Array:
    """p-values of every non-control arm's lift on both metrics: shape (simulations, looks, tests); NaN
    where the readout would not test yet (fewer than ``min_events`` numerator events in an arm)."""
    columns = []
    for metric, events in (("ctr", arms.clicks), ("conversion_rate", arms.conversions)):
        rates = stats.ratio(arms.sums(metric))
        value, error = np.asarray(rates.value), np.asarray(rates.std_error)
        control = stats.Estimate(value[..., :1], error[..., :1])
        lift = stats.relative_lift(stats.Estimate(value[..., 1:], error[..., 1:]), control)
        units = arms.units[..., 1:] + arms.units[..., :1]
        p = stats.always_valid_p_value(lift, units) if always_valid else stats.fixed_p_value(lift)
        tested = stats.enough_events(events[..., 1:], events[..., :1], min_events)
        columns.append(np.where(tested, np.asarray(p), np.nan))
    return np.concatenate(columns, axis=-1)


def false_winner_rate(p_values: Array, alpha: float = stats.DEFAULT_ALPHA) -> float:
    """Share of simulations where some look declares a winner (BH across the tests of that look)."""
    simulations, looks, _ = p_values.shape
    declared = np.zeros(simulations, dtype=bool)
    for s in range(simulations):
        for look in range(looks):
            if (stats.benjamini_hochberg(p_values[s, look]) < alpha).any():
                declared[s] = True
                break
    return float(declared.mean())


def aa_false_winners(
    seed: int, simulations: int, arms: int, looks: int = 20, units_per_arm: int = 10_000, chunk: int = 50
) -> dict[str, float]:
    """A/A experiments peeked at ``looks`` times: how often each readout declares a winner."""
    rng = np.random.default_rng(seed)
    sequential, naive = [], []
    for start in range(0, simulations, chunk):
        sim = simulate(rng, min(chunk, simulations - start), units_per_arm, [0.02] * arms, looks)
        sequential.append(false_winner_rate(lift_p_values(sim, always_valid=True)) * sim.units.shape[0])
        naive.append(false_winner_rate(lift_p_values(sim, always_valid=False)) * sim.units.shape[0])
    return {"always_valid": sum(sequential) / simulations, "fixed_horizon_peeked": sum(naive) / simulations}


def coverage(
    seed: int,
    simulations: int,
    units_per_arm: int = 20_000,
    ctrs: tuple[float, float] = (0.02, 0.022),
    chunk: int = 100,
) -> dict[str, float]:
    """How often the per-arm CTR interval and the lift interval cover the true values (one look)."""
    rng = np.random.default_rng(seed)
    true_lift = ctrs[1] / ctrs[0] - 1
    rate_hits, lift_hits, seq_hits = 0, 0, 0
    for start in range(0, simulations, chunk):
        sim = simulate(rng, min(chunk, simulations - start), units_per_arm, list(ctrs))
        rates = stats.ratio(sim.sums("ctr"))
        low, high = stats.rate_interval(rates)
        truth = np.asarray(ctrs)[None, None, :]
        rate_hits += int(((low <= truth) & (truth <= high)).sum())
        value, error = np.asarray(rates.value), np.asarray(rates.std_error)
        lift = stats.relative_lift(
            stats.Estimate(value[..., 1], error[..., 1]), stats.Estimate(value[..., 0], error[..., 0])
        )
        low, high = stats.fixed_interval(lift)
        lift_hits += int(((low <= true_lift) & (true_lift <= high)).sum())
        low, high = stats.always_valid_interval(lift, sim.units[..., 0] + sim.units[..., 1])
        seq_hits += int(((low <= true_lift) & (true_lift <= high)).sum())
    return {
        "ctr_interval": rate_hits / (simulations * len(ctrs)),
        "lift_interval": lift_hits / simulations,
        "always_valid_lift_interval": seq_hits / simulations,
    }


def sample_ratio_checks(
    seed: int, simulations: int, units: int = 200_000, loss: float = 0.025
) -> dict[str, float]:
    """SRM: how often losing ``loss`` of one arm's units is flagged; are fair-split p-values uniform?"""
    rng = np.random.default_rng(seed)
    fair = rng.multinomial(units, [0.5, 0.5], size=simulations)
    fair_p = np.array([stats.sample_ratio_p_value(row, [1, 1]) for row in fair])
    lossy = fair.copy()
    lossy[:, 1] = rng.binomial(fair[:, 1], 1 - loss)
    lossy_p = np.array([stats.sample_ratio_p_value(row, [1, 1]) for row in lossy])
    return {
        "flagged_with_loss": float((lossy_p < 0.001).mean()),
        "fair_uniformity_ks_p": float(scipy_stats.kstest(fair_p, "uniform").pvalue),
        "flagged_fair": float((fair_p < 0.001).mean()),
    }
