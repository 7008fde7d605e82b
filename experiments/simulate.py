"""Simulate allocation policies on a committed scenario: cumulative regret per policy, mean over seeds.

A scenario (``experiments/scenarios/*.yaml``) pins everything a figure depends on: segments and their
traffic shares, arms, the true click-rate matrix (segment × arm), optional drift, the impressions, how the
policy is updated (every N impressions, or hourly at a traffic rate, with rewards visible after a delay),
the seeds and the policies to compare. Regret is the expected one: the best arm's click rate in the
impression's segment minus the chosen arm's, summed over impressions.

    python -m experiments simulate A            # a committed scenario by name, or a path to a YAML file
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from experiments.policies import Context, Observation, make_policy

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class Drift(BaseModel):
    """From impression ``after`` on, the click rates are ``ctr``."""

    model_config = ConfigDict(extra="forbid")
    after: int = Field(ge=0)
    ctr: dict[str, list[Probability]]


class Scenario(BaseModel):
    """Everything one simulated figure depends on."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    arms: list[str] = Field(min_length=2)
    segments: dict[str, Annotated[float, Field(gt=0.0)]] = Field(description="Traffic share per segment.")
    ctr: dict[str, list[Probability]] = Field(description="Per segment, each arm's true click rate.")
    drift: Drift | None = None
    impressions: int = Field(gt=0, le=10_000_000)
    update_every: int = Field(default=1, gt=0, description="Impressions between policy updates.")
    reward_delay: int = Field(default=0, ge=0, description="Impressions before a reward is visible.")
    seeds: int = Field(default=30, ge=1, le=1000)
    first_seed: int = 1
    policies: list[str] = Field(min_length=1)
    baseline: str
    floor: float = Field(default=0.01, ge=0.0, lt=1.0)
    policy_options: dict[str, dict[str, float]] = Field(default_factory=dict)
    offpolicy: OffPolicy | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        for table in [self.ctr, *([self.drift.ctr] if self.drift else [])]:
            if set(table) != set(self.segments):
                raise ValueError("ctr must give one row per segment")
            if any(len(row) != len(self.arms) for row in table.values()):
                raise ValueError("each ctr row needs one rate per arm")
        if self.baseline not in self.policies:
            raise ValueError("baseline must be one of the policies")
        return self


def read_scenario(name_or_path: str, folder: Path = SCENARIOS_DIR, kind: str = "scenario") -> Any:
    """The YAML of a committed scenario by name (in ``folder``) or of a file by path."""
    path = Path(name_or_path)
    if not path.is_file():
        path = folder / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise FileNotFoundError(f"no {kind} {name_or_path!r}; committed: {known}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_scenario(name_or_path: str) -> Scenario:
    """A committed scenario by name (``A``) or a YAML file by path."""
    return Scenario.model_validate(read_scenario(name_or_path))


class OffPolicyTarget(BaseModel):
    """A policy to evaluate from the logs: always one arm, or a fixed arm per segment."""

    model_config = ConfigDict(extra="forbid")
    always: str | None = None
    per_segment: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one(self) -> OffPolicyTarget:
        if (self.always is None) == (self.per_segment is None):
            raise ValueError("give exactly one of always or per_segment")
        return self


class OffPolicy(BaseModel):
    """Off-policy figures: the logging policy that serves, and the targets evaluated from its logs."""

    model_config = ConfigDict(extra="forbid")
    logging: str
    targets: dict[str, OffPolicyTarget]


@dataclass
class Run:
    """One policy on one seed: its cumulative regret at every impression, its arm counts and, when asked,
    its logs (context key, arm, logged propensity, reward)."""

    regret: np.ndarray
    pulls: np.ndarray
    logs: list[tuple[str, int, float, float]]


def run_policy(scenario: Scenario, policy_name: str, seed: int, keep_logs: bool = False) -> Run:
    """Serve ``scenario.impressions`` with one policy, updating it in batches as the scenario says."""
    rng = np.random.default_rng([seed, 7])
    traffic = np.random.default_rng([seed, 11])  # the same users and clicks for every policy
    policy = make_policy(
        policy_name, len(scenario.arms), scenario.floor, **scenario.policy_options.get(policy_name, {})
    )
    segments = list(scenario.segments)
    shares = np.array([scenario.segments[s] for s in segments], dtype=float)
    shares /= shares.sum()
    regret = np.empty(scenario.impressions)
    pulls = np.zeros(len(scenario.arms), dtype=int)
    pending: deque[tuple[int, Observation]] = deque()
    logs: list[tuple[str, int, float, float]] = []
    served = 0
    total = 0.0
    while served < scenario.impressions:
        size = min(scenario.update_every, scenario.impressions - served)
        table = (
            scenario.ctr if scenario.drift is None or served < scenario.drift.after else scenario.drift.ctr
        )
        users = traffic.choice(len(segments), size=size, p=shares)
        luck = traffic.random(size)
        for offset, segment_index in enumerate(users):
            context = Context(segment=segments[segment_index])
            arm, propensity = policy.choose(context, rng)
            rates = table[context.segment]
            reward = float(luck[offset] < rates[arm])
            if keep_logs:
                logs.append((context.segment, arm, propensity, reward))
            total += max(rates) - rates[arm]
            regret[served + offset] = total
            pulls[arm] += 1
            pending.append((served + offset + scenario.reward_delay, Observation(arm, context, reward)))
        served += size
        visible = []
        while pending and pending[0][0] < served:
            visible.append(pending.popleft()[1])
        policy.update(visible)
    return Run(regret, pulls, logs)


def simulate(scenario: Scenario) -> dict[str, Any]:
    """Every policy over every seed: mean cumulative regret curves, final regret, ratios to the baseline."""
    seeds = range(scenario.first_seed, scenario.first_seed + scenario.seeds)
    points = np.unique(np.linspace(1, scenario.impressions, 100).astype(int)) - 1
    results: dict[str, Any] = {}
    for name in scenario.policies:
        runs = [run_policy(scenario, name, seed) for seed in seeds]
        finals = np.array([run.regret[-1] for run in runs])
        results[name] = {
            "mean_regret": float(finals.mean()),
            "regret_std": float(finals.std(ddof=1)) if len(finals) > 1 else 0.0,
            "curve": np.mean([run.regret[points] for run in runs], axis=0).round(3).tolist(),
            "share_of_pulls": (
                np.sum([run.pulls for run in runs], axis=0) / (len(runs) * scenario.impressions)
            )
            .round(4)
            .tolist(),
        }
    baseline = results[scenario.baseline]["mean_regret"]
    for result in results.values():
        result["regret_vs_baseline"] = round(result["mean_regret"] / baseline, 4) if baseline else None
    return {
        "scenario": scenario.model_dump(),
        "points": (points + 1).tolist(),
        "policies": results,
    }


def write_outputs(result: dict[str, Any], out_dir: Path, x_label: str = "impressions") -> tuple[Path, Path]:
    """``<name>.json`` and a ``<name>.png`` plot of the regret curves (over ``x_label``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = result["scenario"]["name"]
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    figure, axes = plt.subplots(figsize=(7, 4))
    for policy, data in result["policies"].items():
        axes.plot(result["points"], data["curve"], label=f"{policy} ({data['mean_regret']:.1f})")
    axes.set_xlabel(x_label)
    axes.set_ylabel("cumulative regret (expected clicks lost)")
    axes.set_title(f"Scenario {name}: mean over {result['scenario']['seeds']} seeds")
    axes.legend()
    figure.tight_layout()
    png_path = out_dir / f"{name}.png"
    figure.savefig(png_path, dpi=110)
    plt.close(figure)
    return json_path, png_path
