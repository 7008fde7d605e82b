"""``python -m experiments``: list experiments and print one's readout (the same as the API's report).

python -m experiments list
python -m experiments report EXPERIMENT_ID [--json]
python -m experiments simulate SCENARIO [--seeds N] [--out DIR]   # a committed scenario (A, B, C…) or a YAML
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
        f"experiment {report.experiment} ({report.status}, policy {report.policy.name}), "
        f"alpha {report.alpha:g}"
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
    for period in report.periods:
        lines.append(
            f"  period from {period.started_at:%Y-%m-%d %H:%M} ({period.reason}): {period.policy} over "
            f"{', '.join(period.arms)}; versions {period.first_version}-{period.last_version}, "
            f"{period.observations} shown decisions learned from, {period.rewards} rewarded"
        )
    lines.append(f"  {report.estimator}")
    lines.append(f"  {report.rule}")
    return "\n".join(lines)


def _simulate(name: str, seeds: int | None, out: Path) -> int:
    from experiments import simulate_variants
    from experiments.simulate import load_scenario, simulate, write_outputs

    if (simulate_variants.SCENARIOS_DIR / f"{name}.yaml").exists():  # within-request choice (V)
        extra = [] if seeds is None else ["--seeds", str(seeds)]
        return simulate_variants.main([name, "--out", str(out), *extra])

    try:
        scenario = load_scenario(name)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if seeds is not None:
        scenario = scenario.model_copy(update={"seeds": seeds})
    print(
        f"scenario {scenario.name}: {scenario.impressions:,} impressions × {scenario.seeds} seeds",
        file=sys.stderr,
    )
    result = simulate(scenario)
    json_path, png_path = write_outputs(result, out)
    for policy, data in result["policies"].items():
        ratio = data["regret_vs_baseline"]
        print(f"  {policy:22} regret {data['mean_regret']:9.1f}  ÷ {scenario.baseline}: {ratio}")
    print(f"wrote {json_path} and {png_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m experiments``."""
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every experiment, newest first")
    report = sub.add_parser("report", help="one experiment's readout")
    report.add_argument("experiment_id")
    report.add_argument("--json", action="store_true", help="the API's JSON instead of text")
    sim = sub.add_parser("simulate", help="run allocation policies on a scenario: regret curves and a plot")
    sim.add_argument("scenario", help="a committed scenario (A, A-hourly, B, C, OPE, BAI, V) or a YAML file")
    sim.add_argument("--seeds", type=int, default=None, help="override the scenario's number of seeds")
    sim.add_argument("--out", type=Path, default=Path("simulations"), help="folder for <name>.json and .png")
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return _simulate(args.scenario, args.seeds, args.out)
    settings = ExperimentSettings()
    store = ExperimentStore.from_url(settings.experiments_db_url)
    try:
        if args.command == "list":
            for experiment in store.list_all():
                print(f"{experiment.id}  {experiment.status:8}  {experiment.placement:14}  {experiment.name}")
            return 0
        result = store.report(args.experiment_id, ReadoutOptions.from_settings(settings))
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(result.model_dump_json(indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
