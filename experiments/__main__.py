"""``python -m experiments``: list experiments and print one's readout (the same as the API's report).

python -m experiments list
python -m experiments report EXPERIMENT_ID [--json]
"""

from __future__ import annotations

import argparse
import sys

from core.errors import ServiceError
from experiments.models import ExperimentReport, LiftReport, RateReport
from experiments.readout import ReadoutOptions
from experiments.settings import ExperimentSettings
from experiments.store import ExperimentStore


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _rate(rate: RateReport) -> str:
    return f"{_pct(rate.value)} [{_pct(rate.low)}, {_pct(rate.high)}]"


def _lift(lift: LiftReport | None) -> str:
    if lift is None:
        return "(control)"
    if lift.always_valid_p_value is None:
        return f"{_pct(lift.value)} ({lift.note})"
    adjusted = "—" if lift.adjusted_p_value is None else f"{lift.adjusted_p_value:.3g}"
    return (
        f"{_pct(lift.value)} always-valid [{_pct(lift.always_valid_low)}, {_pct(lift.always_valid_high)}] "
        f"p_adj={adjusted} {lift.verdict}"
    )


def format_report(report: ExperimentReport) -> str:
    """The readout as text: one block per arm, then the sample-ratio check and the rule."""
    lines = [
        f"experiment {report.experiment} ({report.status}, policy {report.policy}), alpha {report.alpha:g}"
    ]
    for arm in report.arms:
        best = arm.probability_best.get("ctr")
        name = f"{arm.name} (control)" if arm.control else arm.name
        lines.append(
            f"  {name}: {arm.units} units, {arm.impressions} impressions, {arm.clicks} clicks, "
            f"{arm.conversions} conversions; P(best CTR) {_pct(best)}"
        )
        for metric, rate in arm.rates.items():
            lines.append(f"    {metric}: {_rate(rate)}; lift {_lift(arm.lift.get(metric))}")
    srm = report.sample_ratio
    p = "—" if srm.p_value is None else f"{srm.p_value:.3g}"
    lines.append(
        f"  sample ratio: p={p}{'  MISMATCH: check the assignment and logging' if srm.flagged else ''}"
    )
    lines.append(f"  {report.rule}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m experiments``."""
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every experiment, newest first")
    report = sub.add_parser("report", help="one experiment's readout")
    report.add_argument("experiment_id")
    report.add_argument("--json", action="store_true", help="the API's JSON instead of text")
    args = parser.parse_args(argv)
    settings = ExperimentSettings()
    store = ExperimentStore.from_url(settings.experiments_db_url)
    try:
        if args.command == "list":
            for experiment in store.list_all():
                print(f"{experiment.id}  {experiment.status:8}  {experiment.placement:14}  {experiment.name}")
            return 0
        options = ReadoutOptions(
            settings.experiment_alpha, settings.sequential_tuning_units, settings.experiment_min_events
        )
        result = store.report(args.experiment_id, options)
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(result.model_dump_json(indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
