"""The readout's statistics by simulation, at the issue's sizes (fixed seeds; the tests assert the same).

- A/A: 1,000 experiments with identical arms (2 and 4 arms), read at 20 looks each: how often the
  always-valid readout declares a winner, and how often a fixed-horizon test read at the same looks does.
- Coverage: 2,000 simulations at 20,000 units per arm, CTR 2% (and 2.2%), 1-5 impressions per unit.
- SRM: a 2.5% loss of one arm's units at 200,000 units over two arms; and the p-values of 10,000 fair splits.

    python bench/bench_experiment_stats.py
"""

from __future__ import annotations

import sys
import time

from common import Figure, write_result

from core.paths import SOURCE_ROOT

sys.path.insert(0, str(SOURCE_ROOT))  # the simulator lives with the tests that assert on it
from tests.support import ab_simulation


def main() -> None:
    """Run the three simulations and write ``bench/results/experiment_stats.json``."""
    started = time.perf_counter()
    aa = {
        arms: ab_simulation.aa_false_winners(seed=10 + arms, simulations=1000, arms=arms, looks=20)
        for arms in (2, 4)
    }
    covered = ab_simulation.coverage(seed=13, simulations=2000, units_per_arm=20_000)
    srm = ab_simulation.sample_ratio_checks(seed=14, simulations=10_000, units=200_000, loss=0.025)
    figures = [
        *(
            Figure(
                f"A/A false winners, {arms} arms, 20 looks, always-valid",
                aa[arms]["always_valid"],
                "share",
                "<= 0.065",
            )
            for arms in (2, 4)
        ),
        *(
            Figure(
                f"A/A false winners, {arms} arms, 20 looks, fixed-horizon peeked",
                aa[arms]["fixed_horizon_peeked"],
                "share",
            )
            for arms in (2, 4)
        ),
        Figure("CTR interval coverage", covered["ctr_interval"], "share", ">= 0.94"),
        Figure("lift interval coverage", covered["lift_interval"], "share", ">= 0.94"),
        Figure(
            "always-valid lift interval coverage (one look)", covered["always_valid_lift_interval"], "share"
        ),
        Figure("SRM flagged, 2.5% loss of one arm", srm["flagged_with_loss"], "share", ">= 0.95"),
        Figure("SRM fair-split p-values, KS p", srm["fair_uniformity_ks_p"], "p", "> 0.01"),
    ]
    details = {
        "aa": {str(k): v for k, v in aa.items()},
        "coverage": covered,
        "srm": srm,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_result(
        "experiment_stats",
        figures,
        details,
        dtype=None,
        kernel=None,
        settings={
            "aa_simulations": 1000,
            "looks": 20,
            "coverage_simulations": 2000,
            "srm_simulations": 10_000,
        },
    )


if __name__ == "__main__":
    main()
