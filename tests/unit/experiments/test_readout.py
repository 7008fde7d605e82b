"""The readout from per-arm totals: rates, lift, the event minimum, BH verdicts and the SRM flag."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.readout import ArmTotals, ReadoutOptions, readout


def totals(name: str, units: int, ctr: float, seed: int, weight: float = 1.0, cvr: float = 0.1) -> ArmTotals:
    """An arm's sums from simulated units (1-5 impressions each)."""
    rng = np.random.default_rng(seed)
    imps = rng.integers(1, 6, units).astype(float)
    clicks = rng.binomial(imps.astype(int), ctr).astype(float)
    conv = rng.binomial(clicks.astype(int), cvr).astype(float)
    return ArmTotals(
        name=name,
        weight=weight,
        units=units,
        impressions=imps.sum(),
        clicks=clicks.sum(),
        conversions=conv.sum(),
        impressions_sq=(imps**2).sum(),
        clicks_sq=(clicks**2).sum(),
        conversions_sq=(conv**2).sum(),
        impressions_clicks=(imps * clicks).sum(),
        clicks_conversions=(clicks * conv).sum(),
    )


def test_a_clear_winner_is_declared_and_the_control_has_no_lift() -> None:
    report = readout([totals("a", 30_000, 0.02, 1), totals("b", 30_000, 0.03, 2)], control="a")
    control, treated = report.arms
    assert control.control and control.lift == {}
    ctr = treated.lift["ctr"]
    assert ctr.verdict == "winner" and ctr.value == pytest.approx(0.5, abs=0.1)
    assert ctr.always_valid_low is not None and ctr.low is not None and ctr.always_valid_low < ctr.low
    assert treated.probability_best["ctr"] == pytest.approx(1.0, abs=1e-3)
    assert report.sample_ratio.flagged is False and "always-valid" in report.rule


def test_a_worse_arm_is_a_loser_and_equal_arms_are_inconclusive() -> None:
    report = readout(
        [totals("a", 30_000, 0.03, 1), totals("b", 30_000, 0.02, 2), totals("c", 30_000, 0.03, 3)],
        control="a",
    )
    assert report.arms[1].lift["ctr"].verdict == "loser"
    assert report.arms[2].lift["ctr"].verdict == "inconclusive"


def test_too_few_events_are_not_tested_yet() -> None:
    report = readout(
        [totals("a", 200, 0.02, 1), totals("b", 200, 0.2, 2)], "a", ReadoutOptions(min_events=30)
    )
    lift = report.arms[1].lift["conversion_rate"]
    assert lift.always_valid_p_value is None and lift.verdict == "inconclusive"
    assert lift.note is not None and "30 conversions" in lift.note


def test_a_lost_share_of_units_is_flagged() -> None:
    report = readout([totals("a", 10_000, 0.02, 1), totals("b", 9_000, 0.02, 2)], control="a")
    assert report.sample_ratio.flagged and report.sample_ratio.p_value is not None
    weighted = readout([totals("a", 9_000, 0.02, 1, weight=9), totals("b", 1_000, 0.02, 2)], control="a")
    assert not weighted.sample_ratio.flagged and weighted.sample_ratio.expected_shares["a"] == 0.9


def test_an_arm_without_data_reads_as_nulls() -> None:
    report = readout([ArmTotals("a", 1.0, 0), ArmTotals("b", 1.0, 0)], control="a")
    assert report.arms[1].rates["ctr"].value is None and report.arms[1].lift["ctr"].value is None
    assert report.sample_ratio.p_value is None and not report.sample_ratio.flagged
