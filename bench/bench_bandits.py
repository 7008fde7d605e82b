"""The allocation policies on the committed scenarios (``experiments/scenarios``), at full size: regret
ratios, curves and plots. Writes ``bench/results/bandits.json`` and ``bench/results/bandits/<scenario>.png``.

    python bench/bench_bandits.py                 # A, A-hourly, B, C, OPE and BAI (30 seeds each)
"""

from __future__ import annotations

import argparse
import time

from common import RESULTS_DIR, Figure, ratio, write_result

from experiments.simulate import load_scenario, simulate, write_outputs
from experiments.simulate_bai import simulate_bai
from experiments.simulate_offpolicy import simulate_offpolicy

SCENARIOS = ("A", "A-hourly", "B", "C")


def main() -> None:
    """Simulate every scenario, write its plot, and the figures the issue's goals name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=None, help="override every scenario's seed count")
    args = parser.parse_args()
    results, seconds = {}, {}
    for name in SCENARIOS:
        scenario = load_scenario(name)
        if args.seeds is not None:
            scenario = scenario.model_copy(update={"seeds": args.seeds})
        started = time.perf_counter()
        results[name] = simulate(scenario)
        seconds[name] = round(time.perf_counter() - started, 1)
        write_outputs(results[name], RESULTS_DIR / "bandits")
        print(f"{name}: {seconds[name]} s", flush=True)

    def regret(name: str, policy: str) -> float:
        return float(results[name]["policies"][policy]["mean_regret"])

    started = time.perf_counter()
    ope_scenario = load_scenario("OPE")
    if args.seeds is not None:
        ope_scenario = ope_scenario.model_copy(update={"seeds": args.seeds})
    ope = simulate_offpolicy(ope_scenario)
    seconds["OPE"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    bai_scenario = load_scenario("BAI")
    if args.seeds is not None:
        bai_scenario = bai_scenario.model_copy(update={"seeds": args.seeds})
    bai = simulate_bai(bai_scenario)
    seconds["BAI"] = round(time.perf_counter() - started, 1)
    c_best_plain = min(regret("C", "uniform"), regret("C", "thompson"))
    figures = [
        Figure(
            "A: thompson regret ÷ uniform",
            ratio(regret("A", "thompson"), regret("A", "uniform")),
            goal="<= 0.25",
        ),
        Figure(
            "A: plain Beta(1,1) thompson regret ÷ uniform",
            ratio(regret("A", "thompson_plain"), regret("A", "uniform")),
        ),
        Figure(
            "B: thompson regret ÷ uniform",
            ratio(regret("B", "thompson"), regret("B", "uniform")),
            goal="<= 0.5",
        ),
        Figure(
            "C: lints regret ÷ best non-contextual", ratio(regret("C", "lints"), c_best_plain), goal="<= 0.7"
        ),
        Figure(
            "C: per-segment thompson regret ÷ best non-contextual",
            ratio(regret("C", "thompson_per_context"), c_best_plain),
        ),
        Figure(
            "A hourly batches ÷ A instant updates (thompson)",
            ratio(regret("A-hourly", "thompson"), regret("A", "thompson")),
            goal="<= 1.2",
        ),
    ]
    for target, by_estimator in ope.items():
        for estimator in ("snips", "dr"):
            figures.append(
                Figure(
                    f"OPE {estimator} median relative error, {target}",
                    round(by_estimator[estimator]["median_relative_error"], 4),
                    unit="share",
                    goal="<= 0.1",
                )
            )
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
    figures.append(Figure("BAI: top-two thompson correct", bai["correct"], unit="share", goal=">= 0.95"))
    figures.append(
        Figure(
            "BAI: top-two sample ÷ fixed-horizon A/B sample",
            round(bai["share_of_fixed_horizon"], 3),
            goal="<= 0.7",
        )
    )
    details["BAI"] = {"seeds": bai_scenario.seeds, "seconds": seconds["BAI"], **bai}
    details["OPE"] = {"seeds": ope_scenario.seeds, "seconds": seconds["OPE"], "targets": ope}
    write_result(
        "bandits", figures, details, dtype=None, kernel=None, settings={"scenarios": list(SCENARIOS)}
    )


if __name__ == "__main__":
    main()
