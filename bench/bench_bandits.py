"""The allocation policies on the committed scenarios (``experiments/scenarios``), at full size: regret
ratios, curves and plots. Writes ``bench/results/bandits.json`` and ``bench/results/bandits/<scenario>.png``.

    python bench/bench_bandits.py                 # A, A-hourly, B, C, OPE, BAI and V (30 seeds each)
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from common import RESULTS_DIR, Figure, ratio, write_result

from experiments.simulate import Scenario, load_scenario, simulate, write_outputs
from experiments.simulate_bai import simulate_bai
from experiments.simulate_offpolicy import simulate_offpolicy
from experiments.simulate_variants import load_variant_scenario, simulate_variants
from experiments.simulate_variants import write_outputs as write_variant_outputs

SCENARIOS = ("A", "A-hourly", "B", "C")
# BAI also runs over 10 × its seeds (the scenario's first): 30 seeds cannot tell 93% from 97% correct
BAI_CHECK_SEEDS_PER_SEED = 10


def _scenario(name: str, seeds: int | None) -> Scenario:
    scenario = load_scenario(name)
    return scenario if seeds is None else scenario.model_copy(update={"seeds": seeds})


def _regret_figures(results: dict[str, dict[str, Any]]) -> list[Figure]:
    def regret(name: str, policy: str) -> float:
        return float(results[name]["policies"][policy]["mean_regret"])

    c_best_plain = min(regret("C", "uniform"), regret("C", "thompson"))
    rows = [
        ("A: thompson regret ÷ uniform", regret("A", "thompson"), regret("A", "uniform"), "<= 0.25"),
        (
            "A: plain Beta(1,1) thompson regret ÷ uniform",
            regret("A", "thompson_plain"),
            regret("A", "uniform"),
            "",
        ),
        ("B: thompson regret ÷ uniform", regret("B", "thompson"), regret("B", "uniform"), "<= 0.5"),
        ("C: lints regret ÷ best non-contextual", regret("C", "lints"), c_best_plain, "<= 0.7"),
        (
            "C: per-segment thompson regret ÷ best non-contextual",
            regret("C", "thompson_per_context"),
            c_best_plain,
            "",
        ),
        (
            "A hourly batches ÷ A instant updates (thompson)",
            regret("A-hourly", "thompson"),
            regret("A", "thompson"),
            "<= 1.2",
        ),
    ]
    return [Figure(name, ratio(value, base), goal=goal) for name, value, base, goal in rows]


def _other_figures(ope: dict[str, Any], bai: dict[str, Any]) -> list[Figure]:
    figures = [
        Figure(
            f"OPE {estimator} median relative error, {target}",
            round(by_estimator[estimator]["median_relative_error"], 4),
            unit="share",
            goal="<= 0.1",
        )
        for target, by_estimator in ope.items()
        for estimator in ("snips", "dr")
    ]
    return figures + _bai_figures(bai)


def _bai_figures(bai: dict[str, Any]) -> list[Figure]:
    """The BAI goal rows (the scenario's seeds, against the goal's baseline: ``goal_baseline``) and beside
    them the share of the other baseline, the δ-correct lower bound and the figures over more seeds."""
    names = {"oracle": "oracle equal split (true rates)", "classical": "fixed-horizon A/B design sample"}
    other = "classical" if bai["goal_baseline"] == "oracle" else "oracle"
    goal_name, other_name = names[bai["goal_baseline"]], names[other]
    figures = [
        Figure("BAI: top-two thompson correct", round(bai["correct"], 4), unit="share", goal=">= 0.95"),
        Figure(f"BAI: top-two sample ÷ {goal_name}", round(bai["share_of_goal_baseline"], 3), goal="<= 0.7"),
        Figure(f"BAI: top-two sample ÷ {other_name}", round(bai[f"share_of_{other}"], 3)),
        Figure(
            f"BAI: δ-correct lower bound ÷ {names['oracle']}", round(bai["lower_bound_share_of_oracle"], 3)
        ),
    ]
    if "check" in bai:
        check = bai["check"]
        seeds = f"BAI ({check['runs']} seeds)"
        figures += [
            Figure(f"{seeds}: top-two thompson correct", round(check["correct"], 4), unit="share"),
            Figure(f"{seeds}: top-two sample ÷ {names['oracle']}", round(check["share_of_oracle"], 3)),
            Figure(f"{seeds}: top-two sample ÷ {names['classical']}", round(check["share_of_classical"], 3)),
        ]
    return figures


def _variants(seeds: int | None) -> dict[str, Any]:
    """The within-request choice scenario V (its plot beside the others)."""
    scenario = load_variant_scenario("V")
    if seeds is not None:
        scenario = scenario.model_copy(update={"seeds": seeds})
    result = simulate_variants(scenario)
    write_variant_outputs(result, RESULTS_DIR / "bandits")
    return {k: v for k, v in result.items() if k not in ("points", "policies")} | {
        "mean_regret": {name: data["mean_regret"] for name, data in result["policies"].items()}
    }


def _variant_figures(variants: dict[str, Any]) -> list[Figure]:
    """V: the learned variant choice against the ranker's top variant and a uniform pick; OPE of top-1."""
    ope = variants["offpolicy_top1"]
    return [
        Figure("V: variant choice regret ÷ always the ranker's top", variants["regret_vs_top1"]),
        Figure("V: variant choice regret ÷ uniform pick", variants["regret_vs_uniform"]),
        Figure("V: SNIPS error, always top-1", ope["snips"]["median_relative_error"], unit="share"),
    ]


def main() -> None:
    """Simulate every scenario, write its plot, and the figures the issue's goals name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=None, help="override every scenario's seed count")
    args = parser.parse_args()
    results, seconds = {}, {}
    for name in SCENARIOS:
        started = time.perf_counter()
        results[name] = simulate(_scenario(name, args.seeds))
        seconds[name] = round(time.perf_counter() - started, 1)
        write_outputs(results[name], RESULTS_DIR / "bandits")
        print(f"{name}: {seconds[name]} s", flush=True)
    started = time.perf_counter()
    ope_scenario = _scenario("OPE", args.seeds)
    ope = simulate_offpolicy(ope_scenario)
    seconds["OPE"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    bai_scenario = _scenario("BAI", args.seeds)
    bai = simulate_bai(bai_scenario, check_seeds=BAI_CHECK_SEEDS_PER_SEED * bai_scenario.seeds)
    seconds["BAI"] = round(time.perf_counter() - started, 1)
    details: dict[str, object] = {
        name: {
            "seeds": result["scenario"]["seeds"],
            "seconds": seconds[name],
            "policies": {
                p: {k: v for k, v in d.items() if k != "curve"} for p, d in result["policies"].items()
            },
            "plot": f"bench/results/bandits/{name}.png",
        }
        for name, result in results.items()
    }
    started = time.perf_counter()
    variants = _variants(args.seeds)
    seconds["V"] = round(time.perf_counter() - started, 1)
    details["V"] = {"seconds": seconds["V"], "plot": "bench/results/bandits/V.png", **variants}
    details["BAI"] = {"seeds": bai_scenario.seeds, "seconds": seconds["BAI"], **bai}
    details["OPE"] = {"seeds": ope_scenario.seeds, "seconds": seconds["OPE"], "targets": ope}
    figures = _regret_figures(results) + _other_figures(ope, bai) + _variant_figures(variants)
    write_result(
        "bandits", figures, details, dtype=None, kernel=None, settings={"scenarios": list(SCENARIOS)}
    )


if __name__ == "__main__":
    main()
