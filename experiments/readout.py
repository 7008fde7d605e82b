"""An experiment's readout from per-arm totals: rates with intervals over units, lift against the control
with fixed and always-valid intervals, P(best), the sample-ratio check and the winners (BH across arms ×
metrics). Pure computation: :mod:`experiments.store` supplies the totals, the API and the CLI show it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from experiments import stats
from experiments.models import ArmReport, LiftReport, MetricName, RateReport, Readout, SampleRatioReport
from experiments.settings import ExperimentSettings

# metric → (numerator, denominator), both per-unit sums
METRICS: dict[MetricName, tuple[str, str]] = {
    "ctr": ("clicks", "impressions"),
    "conversion_rate": ("conversions", "clicks"),
}
SRM_THRESHOLD = 0.001
MIN_EXPECTED_UNITS = 5
WINNER_RULE = (
    "A winner (or loser) is an arm whose lift over the control has a Benjamini-Hochberg-adjusted "
    "always-valid p-value below alpha, adjusted across every arm and metric; the always-valid p-value "
    "stays valid however often the report is read."
)


@dataclass(frozen=True)
class ArmTotals:
    """One arm's units and its per-unit sums (and sums of squares and products) of the event counts."""

    name: str
    weight: float
    units: int
    impressions: float = 0.0
    clicks: float = 0.0
    conversions: float = 0.0
    impressions_sq: float = 0.0
    clicks_sq: float = 0.0
    conversions_sq: float = 0.0
    impressions_clicks: float = 0.0
    clicks_conversions: float = 0.0
    sample_units: int | None = None  # units behind the estimate: all of the experiment's when weighted
    events: tuple[int, int, int] | None = None  # impressions, clicks, conversions as counted (not weighted)

    def counted(self) -> tuple[int, int, int]:
        """The arm's impressions, clicks and conversions, as events (never weighted)."""
        if self.events is not None:
            return self.events
        return int(self.impressions), int(self.clicks), int(self.conversions)

    def sums(self, metric: MetricName) -> stats.UnitSums:
        """The unit sums of one metric's numerator and denominator."""
        num, den = METRICS[metric]
        return stats.UnitSums(
            units=float(self.units if self.sample_units is None else self.sample_units),
            y=getattr(self, num),
            x=getattr(self, den),
            yy=getattr(self, f"{num}_sq"),
            xx=getattr(self, f"{den}_sq"),
            xy=getattr(self, f"{den}_{num}"),
        )


def _rate(estimate: stats.Estimate, alpha: float) -> RateReport:
    low, high = stats.rate_interval(estimate, alpha)
    return RateReport(
        value=stats.finite_or_none(estimate.value),
        low=stats.finite_or_none(low),
        high=stats.finite_or_none(high),
    )


UNWEIGHTED = (
    "Rates are Σ events ÷ Σ impressions (or clicks) over the units each arm was assigned, with a "
    "delta-method standard error over units (the fixed split randomizes units)."
)
WEIGHTED = (
    "The allocation changed over the experiment (an adaptive policy, or arms added or retired), so plain "
    "per-arm rates would be biased: each arm's rate is the self-normalized inverse-propensity (Hájek) "
    "estimate of serving that arm to every decision, Σ events ÷ propensity over Σ impressions ÷ propensity "
    "using the propensity logged with each decision, with a delta-method standard error clustered by unit "
    "over all of the experiment's units; the sample-ratio check compares each unit's first decision with "
    "the propensities logged for it."
)


PAIRED_NOTE = "against the control over the periods this arm was live only"


@dataclass(frozen=True)
class SampleRatioCounts:
    """Units by the arm of their first decision, and the expected units: the sum of that decision's logged
    propensity of each arm (an adaptive allocation's SRM check)."""

    observed: dict[str, int]
    expected: dict[str, float]


@dataclass(frozen=True)
class ReadoutOptions:
    """The readout's knobs (the experiments settings supply them)."""

    alpha: float = stats.DEFAULT_ALPHA
    tuning_units: int = stats.DEFAULT_TUNING_UNITS
    min_events: int = stats.DEFAULT_MIN_EVENTS

    @classmethod
    def from_settings(cls, settings: ExperimentSettings) -> ReadoutOptions:
        """The options the experiments settings give."""
        return cls(
            settings.experiment_alpha, settings.sequential_tuning_units, settings.experiment_min_events
        )


def _lift(treated: ArmTotals, control: ArmTotals, metric: MetricName, options: ReadoutOptions) -> LiftReport:
    lift = stats.relative_lift(stats.ratio(treated.sums(metric)), stats.ratio(control.sums(metric)))
    units = treated.units + control.units if treated.sample_units is None else treated.sample_units
    low, high = stats.fixed_interval(lift, options.alpha)
    numerator = METRICS[metric][0]
    position = ("impressions", "clicks", "conversions").index(numerator)  # events as counted, not weighted
    if not stats.enough_events(treated.counted()[position], control.counted()[position], options.min_events):
        return LiftReport(
            value=stats.finite_or_none(lift.value),
            low=stats.finite_or_none(low),
            high=stats.finite_or_none(high),
            always_valid_low=None,
            always_valid_high=None,
            p_value=None,
            always_valid_p_value=None,
            note=f"not tested yet: each arm needs {options.min_events} {numerator}",
        )
    rho2 = stats.mixture_rho2(options.alpha, options.tuning_units)
    seq_low, seq_high = stats.always_valid_interval(lift, units, options.alpha, rho2)
    return LiftReport(
        value=stats.finite_or_none(lift.value),
        low=stats.finite_or_none(low),
        high=stats.finite_or_none(high),
        always_valid_low=stats.finite_or_none(seq_low),
        always_valid_high=stats.finite_or_none(seq_high),
        p_value=stats.finite_or_none(stats.fixed_p_value(lift)),
        always_valid_p_value=stats.finite_or_none(stats.always_valid_p_value(lift, units, rho2)),
    )


def readout(
    arms: Sequence[ArmTotals],
    control: str,
    options: ReadoutOptions | None = None,
    logged: SampleRatioCounts | None = None,
    pairs: Mapping[str, tuple[ArmTotals, ArmTotals]] | None = None,
) -> Readout:
    """The readout of one experiment (arms in their declared order; ``control`` names one of them).
    ``logged``: the allocation changed (totals weighted by the logged propensities; SRM against them);
    ``pairs``: for an arm not live throughout, it and the control over the versions it was live in, which
    its lift compares."""
    options = options or ReadoutOptions()
    alpha = options.alpha
    base = {arm.name: arm for arm in arms}[control]
    best = {m: stats.probability_best([stats.ratio(a.sums(m)) for a in arms]) for m in METRICS}
    reports = []
    pairs = pairs or {}
    for index, arm in enumerate(arms):
        treated, baseline = pairs.get(arm.name, (arm, base))
        lifts = {m: _lift(treated, baseline, m, options) for m in METRICS} if arm.name != control else {}
        if arm.name in pairs:
            for lift in lifts.values():
                lift.note = "; ".join(filter(None, [lift.note, PAIRED_NOTE]))
        impressions, clicks, conversions = arm.counted()
        reports.append(
            ArmReport(
                name=arm.name,
                control=arm.name == control,
                weight=arm.weight,
                units=arm.units,
                impressions=impressions,
                clicks=clicks,
                conversions=conversions,
                rates={m: _rate(stats.ratio(arm.sums(m)), alpha) for m in METRICS},
                probability_best={m: stats.finite_or_none(best[m][index]) for m in METRICS},
                lift=lifts,
            )
        )
    _adjust(reports, alpha)
    return Readout(
        alpha=alpha,
        tuning_units=options.tuning_units,
        min_events=options.min_events,
        arms=reports,
        sample_ratio=_sample_ratio(arms) if logged is None else _logged_sample_ratio(arms, logged),
        rule=WINNER_RULE,
        estimator=UNWEIGHTED if logged is None else WEIGHTED,
    )


def _adjust(reports: list[ArmReport], alpha: float) -> None:
    """BH-adjust the always-valid p-values across arms × metrics and mark winners and losers."""
    cells = [(report, metric) for report in reports for metric in report.lift]
    adjusted = stats.benjamini_hochberg(
        [np.nan if (p := r.lift[m].always_valid_p_value) is None else p for r, m in cells]
    )
    for (report, metric), p in zip(cells, adjusted, strict=True):
        lift = report.lift[metric]
        lift.adjusted_p_value = stats.finite_or_none(p)
        if lift.adjusted_p_value is not None and lift.adjusted_p_value < alpha and lift.value is not None:
            lift.verdict = "winner" if lift.value > 0 else "loser"


def _sample_ratio(arms: Sequence[ArmTotals]) -> SampleRatioReport:
    p = stats.sample_ratio_p_value([a.units for a in arms], [a.weight for a in arms])
    total_weight = sum(a.weight for a in arms)
    return SampleRatioReport(
        p_value=stats.finite_or_none(p),
        flagged=bool(math.isfinite(p) and p < SRM_THRESHOLD),
        threshold=SRM_THRESHOLD,
        expected_shares={a.name: a.weight / total_weight for a in arms},
    )


def _logged_sample_ratio(arms: Sequence[ArmTotals], logged: SampleRatioCounts) -> SampleRatioReport:
    names = [a.name for a in arms]
    observed = [logged.observed.get(name, 0) for name in names]
    expected = [logged.expected.get(name, 0.0) for name in names]
    total = sum(expected)
    live = [i for i, e in enumerate(expected) if e > 0]  # an arm never offered cannot be tested
    p = float("nan")  # the chi-square needs ≥ 5 expected units in every arm (floors can be tiny)
    if live and min(expected[i] for i in live) >= MIN_EXPECTED_UNITS:
        p = stats.sample_ratio_p_value([observed[i] for i in live], [expected[i] for i in live])
    return SampleRatioReport(
        p_value=stats.finite_or_none(p),
        flagged=bool(math.isfinite(p) and p < SRM_THRESHOLD),
        threshold=SRM_THRESHOLD,
        expected_shares={n: (e / total if total else 0.0) for n, e in zip(names, expected, strict=True)},
    )
