"""The readout's statistics: rates over randomized units, lift, always-valid p-values, P(best), SRM, BH.

The unit (a hashed user) is what is randomized, so every rate is a ratio of per-unit sums (clicks ÷
impressions summed over units) and its variance comes from the delta method over units, never from
per-impression binomial counts (units with several impressions are correlated). Distributions come from
scipy, multiple testing from statsmodels. Written here by hand, because no well-kept Python library has
it: the always-valid interval, the asymptotic confidence sequence of Waudby-Smith et al. (2023) with the
normal-mixture boundary of Howard et al. (2021) and its approximately optimal mixing variance for a chosen
sample size (what GrowthBook's sequential testing uses), and its p-value, the matching mixture SPRT (Johari
et al. 2017). Both are closed forms, checked in the tests against a numerical inversion and by simulation
(A/A peeking, coverage).

Functions take numpy arrays or floats and broadcast, so the simulations run the same code as the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

Array = NDArray[np.float64]
DEFAULT_ALPHA = 0.05
DEFAULT_TUNING_UNITS = 5000  # the sample size the always-valid interval is tightest at (GrowthBook's N*)
# A lift is tested once both arms have this many events in the metric's numerator: below it the normal
# approximation of a ratio is unreliable (A/A simulation: with no minimum, a conversion-rate readout peeked 20
# times declares false winners in ~12% of experiments; with 30 events, in ~3-4%).
DEFAULT_MIN_EVENTS = 30


@dataclass(frozen=True)
class UnitSums:
    """Per-arm sums over units of a numerator y (clicks) and a denominator x (impressions) per unit."""

    units: Array | float
    y: Array | float
    x: Array | float
    yy: Array | float
    xx: Array | float
    xy: Array | float

    @classmethod
    def of(cls, y: ArrayLike, x: ArrayLike) -> UnitSums:
        """The sums from per-unit numerators ``y`` and denominators ``x``."""
        ys, xs = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
        return cls(float(len(ys)), ys.sum(), xs.sum(), (ys * ys).sum(), (xs * xs).sum(), (xs * ys).sum())


@dataclass(frozen=True)
class Estimate:
    """A ratio (or a lift) and the standard error of its estimate."""

    value: Array | float
    std_error: Array | float


def ratio(sums: UnitSums) -> Estimate:
    """Σy ÷ Σx over units, with the delta-method standard error over units (NaN with < 2 units or Σx = 0)."""
    n = np.asarray(sums.units, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.asarray(sums.y, dtype=float) / np.asarray(sums.x, dtype=float)
        mean_x = np.asarray(sums.x, dtype=float) / n
        var_y = (np.asarray(sums.yy) - np.asarray(sums.y) ** 2 / n) / (n - 1)
        var_x = (np.asarray(sums.xx) - np.asarray(sums.x) ** 2 / n) / (n - 1)
        cov = (np.asarray(sums.xy) - np.asarray(sums.x) * np.asarray(sums.y) / n) / (n - 1)
        variance = (var_y - 2 * r * cov + r**2 * var_x) / (n * mean_x**2)
        se = np.sqrt(np.maximum(variance, 0.0))
    se = np.where(n >= 2, se, np.nan)
    return Estimate(_out(r), _out(se))


def relative_lift(treatment: Estimate, control: Estimate) -> Estimate:
    """Treatment ÷ control − 1 for independent arms, delta-method standard error."""
    t, c = np.asarray(treatment.value, dtype=float), np.asarray(control.value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = t / c - 1
        variance = (
            np.asarray(treatment.std_error) ** 2 / c**2 + t**2 * np.asarray(control.std_error) ** 2 / c**4
        )
    return Estimate(_out(lift), _out(np.sqrt(variance)))


def fixed_interval(estimate: Estimate, alpha: float = DEFAULT_ALPHA) -> tuple[Array, Array]:
    """The fixed-horizon (one look) normal interval."""
    z = stats.norm.ppf(1 - alpha / 2)
    value, se = np.asarray(estimate.value, dtype=float), np.asarray(estimate.std_error, dtype=float)
    return value - z * se, value + z * se


def rate_interval(estimate: Estimate, alpha: float = DEFAULT_ALPHA) -> tuple[Array, Array]:
    """The fixed-horizon interval of a rate, its lower end kept at 0 (a rate is never negative)."""
    low, high = fixed_interval(estimate, alpha)
    return np.maximum(low, 0.0), high


def fixed_p_value(estimate: Estimate) -> Array | float:
    """Two-sided z-test p-value of ``value = 0`` for one look (invalid when peeked at repeatedly)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.asarray(estimate.value, dtype=float) / np.asarray(estimate.std_error, dtype=float)
    return _out(2 * stats.norm.sf(np.abs(z)))


def mixture_rho2(alpha: float = DEFAULT_ALPHA, tuning_units: float = DEFAULT_TUNING_UNITS) -> float:
    """The mixing variance (per unit of variance) that makes the α-level interval tightest at
    ``tuning_units`` units (Waudby-Smith et al.'s approximately optimal ρ²)."""
    log_term = -2 * np.log(alpha)
    return float((log_term + np.log(log_term + 1)) / tuning_units)


def always_valid_interval(
    estimate: Estimate, units: ArrayLike, alpha: float = DEFAULT_ALPHA, rho2: float | None = None
) -> tuple[Array, Array]:
    """An interval that covers the true value at every look at once with probability ≥ 1 − α.

    ``units``: the units behind the estimate (both arms of a lift); the per-unit variance is
    ``units × std_error²``. ``rho2``: the mixture (default: tuned for ``alpha`` at 5,000 units).
    """
    n = np.asarray(units, dtype=float)
    rho2 = mixture_rho2(alpha) if rho2 is None else rho2
    sigma2 = n * np.asarray(estimate.std_error, dtype=float) ** 2
    half = np.sqrt(sigma2 * 2 * (n * rho2 + 1) / (n**2 * rho2) * np.log(np.sqrt(n * rho2 + 1) / alpha))
    value = np.asarray(estimate.value, dtype=float)
    return value - half, value + half


def always_valid_p_value(estimate: Estimate, units: ArrayLike, rho2: float | None = None) -> Array | float:
    """The mixture-SPRT p-value of ``value = 0``: the smallest α whose always-valid interval (same
    mixture) excludes 0. Peeking at it after every batch of data keeps P(ever < α | no effect) ≤ α."""
    n = np.asarray(units, dtype=float)
    rho2 = mixture_rho2() if rho2 is None else rho2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sigma2 = n * np.asarray(estimate.std_error, dtype=float) ** 2
        value = np.asarray(estimate.value, dtype=float)
        log_p = 0.5 * np.log(n * rho2 + 1) - value**2 * n**2 * rho2 / (2 * sigma2 * (n * rho2 + 1))
        p = np.minimum(1.0, np.exp(log_p))
    return _out(np.where(np.isfinite(p), p, np.nan))


def enough_events(treatment_events: ArrayLike, control_events: ArrayLike, minimum: int) -> Array | bool:
    """Whether a lift has the data to be tested: both arms reached ``minimum`` numerator events."""
    enough = np.minimum(np.asarray(treatment_events), np.asarray(control_events)) >= minimum
    return bool(enough) if np.ndim(enough) == 0 else enough


def probability_best(estimates: list[Estimate], draws: int = 20_000, seed: int = 0) -> Array:
    """P(each arm has the highest rate) under independent normal approximations, by Monte Carlo."""
    values = np.array([float(e.value) for e in estimates])
    errors = np.array([float(e.std_error) for e in estimates])
    if not np.all(np.isfinite(values)) or not np.all(np.isfinite(errors)):
        return np.full(len(estimates), np.nan)
    rng = np.random.default_rng(seed)
    samples = rng.normal(values, np.maximum(errors, 1e-12), size=(draws, len(estimates)))
    return np.bincount(samples.argmax(axis=1), minlength=len(estimates)) / draws


def sample_ratio_p_value(assigned_units: ArrayLike, intended_split: ArrayLike) -> float:
    """Chi-square test of the assigned units against the intended split (NaN with no units)."""
    observed = np.asarray(assigned_units, dtype=float)
    total = observed.sum()
    if total == 0 or len(observed) < 2:
        return float("nan")
    weights = np.asarray(intended_split, dtype=float)
    expected = total * weights / weights.sum()
    return float(stats.chisquare(observed, expected).pvalue)


def benjamini_hochberg(p_values: ArrayLike) -> Array:
    """BH-adjusted p-values (NaNs stay NaN and take no part)."""
    from statsmodels.stats.multitest import multipletests  # ~1 s to import: only when a report needs it

    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    present = np.isfinite(p)
    if present.any():
        adjusted[present] = multipletests(p[present], method="fdr_bh")[1]
    return adjusted


def finite_or_none(value: float | np.floating | Array) -> float | None:
    """A scalar as a float, or None when it is NaN or infinite (what the reports show as "no value")."""
    number = float(value)
    return number if np.isfinite(number) else None


def _out(value: Array) -> Array | float:
    return float(value) if np.ndim(value) == 0 else value
