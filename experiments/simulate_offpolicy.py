"""Off-policy figures of a scenario: the logging policy serves, IPS / SNIPS / DR estimate each target
policy's click rate from its logs, and the relative errors against the known truth are summarized."""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments import offpolicy
from experiments.simulate import OffPolicyTarget, Scenario, run_policy


def _target(scenario: Scenario, target: OffPolicyTarget) -> offpolicy.TargetPolicy:
    arms = scenario.arms
    if target.always is not None:
        return offpolicy.always(arms.index(target.always), len(arms))
    table = {
        segment: offpolicy.always(arms.index(arm), len(arms))(segment)
        for segment, arm in (target.per_segment or {}).items()
    }
    return lambda segment: table[segment]


def _truth(scenario: Scenario, policy: offpolicy.TargetPolicy) -> float:
    shares = np.array(list(scenario.segments.values()), dtype=float)
    shares /= shares.sum()
    values = [float(np.dot(policy(segment), scenario.ctr[segment])) for segment in scenario.segments]
    return float(np.dot(shares, values))


def simulate_offpolicy(scenario: Scenario) -> dict[str, Any]:
    """Per target and estimator: the truth, the median and mean relative error over the seeds, and how
    often the 95% interval covered the truth."""
    if scenario.offpolicy is None:
        raise ValueError(f"scenario {scenario.name} has no offpolicy section")
    targets = {name: _target(scenario, t) for name, t in scenario.offpolicy.targets.items()}
    errors: dict[str, dict[str, list[float]]] = {name: {} for name in targets}
    covered: dict[str, dict[str, list[bool]]] = {name: {} for name in targets}
    for seed in range(scenario.first_seed, scenario.first_seed + scenario.seeds):
        run = run_policy(scenario, scenario.offpolicy.logging, seed, keep_logs=True)
        logs = offpolicy.logs_from(run.logs, len(scenario.arms))
        for name, policy in targets.items():
            truth = _truth(scenario, policy)
            for estimate in offpolicy.estimate_all(logs, policy):
                errors[name].setdefault(estimate.estimator, []).append(abs(estimate.value - truth) / truth)
                covered[name].setdefault(estimate.estimator, []).append(
                    estimate.low <= truth <= estimate.high
                )
    return {
        name: {
            "truth": _truth(scenario, targets[name]),
            **{
                estimator: {
                    "median_relative_error": float(np.median(values)),
                    "mean_relative_error": float(np.mean(values)),
                    "interval_coverage": float(np.mean(covered[name][estimator])),
                }
                for estimator, values in errors[name].items()
            },
        }
        for name in targets
    }
