"""Simulate within-request choice on a committed scenario (``experiments/scenarios/variants/*.yaml``).

Each request has k ranked variants whose features are drawn from the scenario's distribution and ranked
as the ranker does (relevance = weighted profile and product relevance; MMR's first pick is the most
relevant and has no diversity penalty, the rest follow ``λ·relevance - (1-λ)·similarity``). The true click
rate is linear in the features but weights them differently from the ranker, so its top variant is often
not the best. Three policies serve the same requests: always the ranker's top variant, uniform over the k,
and :class:`~experiments.variant_choice.VariantPolicy` updated in batches. Regret is the expected one, over
the policy's own propensities: the request's best click rate minus the expected rate of its choice. From
VariantPolicy's logs, IPS, SNIPS and DR estimate the value of "always the top variant", against the truth
(the mean top-variant click rate of the same requests).

    python -m experiments.simulate_variants V [--seeds N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from experiments import offpolicy, simulate
from experiments.policies import Array
from experiments.variant_choice import VariantPolicy, feature_matrix

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios" / "variants"
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
POLICIES = ("top1", "uniform", "variant_ts")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentSpec(Strict):
    """A segment's traffic share, its base click rate and how much profile relevance is worth in it."""

    share: float = Field(gt=0.0)
    base_ctr: Probability
    profile_weight: float


class VariantDistribution(Strict):
    """How a request's variants' features are drawn: relevances are normal around their means, with a
    shift shared by the request's variants (``request_sd``); similarity to the first pick is uniform."""

    profile_mean: float
    profile_sd: float = Field(ge=0.0)
    product_mean: float
    product_sd: float = Field(ge=0.0)
    request_sd: float = Field(default=0.0, ge=0.0)
    similarity: tuple[float, float] = (0.5, 0.9)
    repaired_rate: Probability = 0.0


class Truth(Strict):
    """The click rate's dependence on the features besides the segment's (base, profile weight)."""

    product_weight: float = 0.0
    repaired_effect: float = 0.0


class RankerSpec(Strict):
    profile_weight: float = Field(default=0.5, ge=0.0)
    product_weight: float = Field(default=0.5, ge=0.0)
    mmr_lambda: float = Field(default=0.7, ge=0.0, le=1.0)


class PolicySpec(Strict):
    scale: float = Field(default=0.1, gt=0.0)
    ridge: float = Field(default=1.0, gt=0.0)
    prior_score: float = 0.1
    prior_top: float = 0.05


class VariantScenario(Strict):
    """Everything one simulated figure depends on."""

    name: str
    description: str = ""
    k: int = Field(default=4, ge=2, le=20)
    requests: int = Field(gt=0, le=10_000_000)
    update_every: int = Field(default=1000, gt=0)
    seeds: int = Field(default=30, ge=1, le=1000)
    first_seed: int = 1
    floor: float = Field(default=0.1, ge=0.0, lt=1.0)
    arms: dict[str, float] = Field(min_length=1, description="Each arm's additive click-rate lift.")
    segments: dict[str, SegmentSpec] = Field(min_length=1)
    variants: VariantDistribution
    truth: Truth = Truth()
    ranker: RankerSpec = RankerSpec()
    policy: PolicySpec = PolicySpec()

    @model_validator(mode="after")
    def _weights(self) -> VariantScenario:
        if self.ranker.profile_weight + self.ranker.product_weight <= 0:
            raise ValueError("the ranker's profile and product weights cannot both be 0")
        return self


def load_variant_scenario(name_or_path: str) -> VariantScenario:
    """A committed scenario by name (``V``) or a YAML file by path."""
    return VariantScenario.model_validate(
        simulate.read_scenario(name_or_path, SCENARIOS_DIR, "variant scenario")
    )


@dataclass(frozen=True)
class Requests:
    """A batch of requests: each variant's features (in rank order) and true click rate."""

    features: Array  # (requests, k, features)
    ctr: Array  # (requests, k)


def draw_requests(scenario: VariantScenario, size: int, rng: np.random.Generator) -> Requests:
    """``size`` requests from the scenario's distribution, variants in the ranker's order."""
    v, r, k = scenario.variants, scenario.ranker, scenario.k
    segments, arms = list(scenario.segments), list(scenario.arms)
    shares = np.array([scenario.segments[s].share for s in segments])
    segment = rng.choice(len(segments), size=size, p=shares / shares.sum())
    arm = rng.integers(len(arms), size=size)
    profile = v.profile_mean + rng.normal(0, v.request_sd, (size, 1)) + rng.normal(0, v.profile_sd, (size, k))
    product = v.product_mean + rng.normal(0, v.request_sd, (size, 1)) + rng.normal(0, v.product_sd, (size, k))
    similarity = rng.uniform(*v.similarity, (size, k))
    repaired = (rng.random((size, k)) < v.repaired_rate).astype(float)
    relevance = (r.profile_weight * profile + r.product_weight * product) / (
        r.profile_weight + r.product_weight
    )
    penalty = (1 - r.mmr_lambda) * similarity
    first = relevance.argmax(axis=1)
    rows = np.arange(size)
    penalty[rows, first] = 0.0
    score = r.mmr_lambda * relevance - penalty
    score_for_order = score.copy()
    score_for_order[rows, first] = np.inf  # MMR's first pick leads
    order = np.argsort(-score_for_order, axis=1, kind="stable")

    def ranked(values: Array) -> Array:
        return np.take_along_axis(values, order, axis=1)

    profile, product, penalty, score, repaired = map(ranked, (profile, product, penalty, score, repaired))
    rank = np.broadcast_to(np.arange(1, k + 1), (size, k))
    features = feature_matrix(
        score.ravel(),
        profile.ravel(),
        product.ravel(),
        penalty.ravel(),
        rank.ravel(),
        repaired.ravel(),
        [arms[a] for a in np.repeat(arm, k)],
        [segments[s] for s in np.repeat(segment, k)],
    ).reshape(size, k, -1)
    spec = [scenario.segments[s] for s in segments]
    base = np.array([x.base_ctr for x in spec])[segment] + np.array(list(scenario.arms.values()))[arm]
    weight = np.array([x.profile_weight for x in spec])[segment]
    ctr = (
        base[:, None]
        + weight[:, None] * (profile - v.profile_mean)
        + scenario.truth.product_weight * (product - v.product_mean)
        + scenario.truth.repaired_effect * repaired
    )
    return Requests(features, np.clip(ctr, 0.001, 1.0))


def make_variant_policy(scenario: VariantScenario) -> VariantPolicy:
    """A fresh VariantPolicy with the scenario's floor and prior."""
    return VariantPolicy(scenario.floor, **scenario.policy.model_dump())


@dataclass
class VariantRun:
    """One seed: each policy's cumulative expected regret per request, and VariantPolicy's logs."""

    regret: dict[str, Array]
    chosen: np.ndarray
    propensities: Array
    rewards: Array
    top_ctr: Array
    top_is_best: float
    first_propensities: Array
    policy: VariantPolicy
    rows: list[tuple[list[float], float]]


def run_variants(scenario: VariantScenario, seed: int, keep_rows: bool = False) -> VariantRun:
    """Serve ``scenario.requests`` with the three policies on the same requests; VariantPolicy is updated
    every ``update_every`` requests with the shown variants' (features, click)."""
    traffic = np.random.default_rng([seed, 11])
    choices = np.random.default_rng([seed, 7])
    policy = make_variant_policy(scenario)
    k, n = scenario.k, scenario.requests
    per_request = {name: np.empty(n) for name in POLICIES}
    chosen, shown_p, rewards, top_ctr = np.empty(n, int), np.empty(n), np.empty(n), np.empty(n)
    best_top = 0
    first: Array | None = None
    rows: list[tuple[list[float], float]] = []
    for start in range(0, n, scenario.update_every):
        size = min(scenario.update_every, n - start)
        batch = draw_requests(scenario, size, traffic)
        luck = traffic.random(size)
        p = policy.propensities_many(batch.features)
        first = p if first is None else first
        pick = np.minimum((p.cumsum(axis=1) < choices.random(size)[:, None]).sum(axis=1), k - 1)
        best = batch.ctr.max(axis=1)
        window = slice(start, start + size)
        per_request["top1"][window] = best - batch.ctr[:, 0]
        per_request["uniform"][window] = best - batch.ctr.mean(axis=1)
        per_request["variant_ts"][window] = (p * (best[:, None] - batch.ctr)).sum(axis=1)
        index = np.arange(size)
        chosen[window], shown_p[window] = pick, p[index, pick]
        rewards[window] = (luck < batch.ctr[index, pick]).astype(float)
        top_ctr[window] = batch.ctr[:, 0]
        best_top += int((batch.ctr.argmax(axis=1) == 0).sum())
        shown = list(zip(batch.features[index, pick].tolist(), rewards[window].tolist(), strict=True))
        rows.extend(shown if keep_rows else [])
        policy.update(shown)
    assert first is not None
    regret = {name: np.cumsum(values) for name, values in per_request.items()}
    return VariantRun(
        regret, chosen, shown_p, rewards, top_ctr, best_top / n, first.mean(axis=0), policy, rows
    )


def _ope(runs: list[VariantRun], k: int) -> dict[str, Any]:
    """IPS / SNIPS / DR of "always the top variant" from each run's logs, against its truth."""
    errors: dict[str, list[float]] = {}
    covered: dict[str, list[bool]] = {}
    target = offpolicy.always(0, k)
    for run in runs:
        logs = offpolicy.Logs([""] * len(run.chosen), run.chosen, run.propensities, run.rewards, k)
        truth = float(run.top_ctr.mean())
        for estimate in offpolicy.estimate_all(logs, target):
            errors.setdefault(estimate.estimator, []).append(abs(estimate.value - truth) / truth)
            covered.setdefault(estimate.estimator, []).append(estimate.low <= truth <= estimate.high)
    return {
        "truth": float(np.mean([run.top_ctr.mean() for run in runs])),
        **{
            name: {
                "median_relative_error": round(float(np.median(values)), 4),
                "mean_relative_error": round(float(np.mean(values)), 4),
                "interval_coverage": round(float(np.mean(covered[name])), 4),
            }
            for name, values in errors.items()
        },
    }


def simulate_variants(scenario: VariantScenario) -> dict[str, Any]:
    """Every seed: mean cumulative regret curves and finals per policy, VariantPolicy's regret ÷ always-top
    and ÷ uniform, the off-policy error of "always top" from its logs, and a rebuild check (first seed)."""
    started = time.perf_counter()
    seeds = range(scenario.first_seed, scenario.first_seed + scenario.seeds)
    runs = [run_variants(scenario, seed, keep_rows=seed == scenario.first_seed) for seed in seeds]
    points = np.unique(np.linspace(1, scenario.requests, 100).astype(int)) - 1
    policies: dict[str, Any] = {}
    for name in POLICIES:
        finals = np.array([run.regret[name][-1] for run in runs])
        policies[name] = {
            "mean_regret": round(float(finals.mean()), 3),
            "regret_std": round(float(finals.std(ddof=1)), 3) if len(finals) > 1 else 0.0,
            "curve": np.mean([run.regret[name][points] for run in runs], axis=0).round(3).tolist(),
        }
    ours = policies["variant_ts"]["mean_regret"]
    rebuilt = make_variant_policy(scenario)
    rebuilt.fit(runs[0].rows, version=runs[0].policy.version)
    late = [run.chosen[-min(5000, scenario.requests) :] for run in runs]
    return {
        "scenario": scenario.model_dump(),
        "points": (points + 1).tolist(),
        "policies": policies,
        "regret_vs_top1": round(ours / policies["top1"]["mean_regret"], 4),
        "regret_vs_uniform": round(ours / policies["uniform"]["mean_regret"], 4),
        "top1_is_best_share": round(float(np.mean([run.top_is_best for run in runs])), 4),
        "prior_propensity_by_rank": np.mean([run.first_propensities for run in runs], axis=0)
        .round(4)
        .tolist(),
        "late_choice_share_by_rank": (
            np.mean([np.bincount(c, minlength=scenario.k) / len(c) for c in late], axis=0).round(4).tolist()
        ),
        "final_weights": dict(
            zip(
                ("profile_relevance", "product_relevance", "repaired"),
                np.mean([run.policy.posterior_mean()[[2, 3, 6]] for run in runs], axis=0).round(4).tolist(),
                strict=True,
            )
        ),
        "offpolicy_top1": _ope(runs, scenario.k),
        "rebuild_identical": rebuilt.state_digest() == runs[0].policy.state_digest(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def write_outputs(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``<name>.json`` and a ``<name>.png`` plot of the regret curves (over requests)."""
    return simulate.write_outputs(result, out_dir, x_label="requests")


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.simulate_variants V``: run a scenario, print its figures, write JSON + PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", help="a committed variant scenario's name (V) or a YAML file")
    parser.add_argument("--seeds", type=int, default=None, help="override the scenario's number of seeds")
    parser.add_argument("--out", type=Path, default=Path("simulations"), help="folder for <name>.json/.png")
    args = parser.parse_args(argv)
    try:
        scenario = load_variant_scenario(args.scenario)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.seeds is not None:
        scenario = scenario.model_copy(update={"seeds": args.seeds})
    result = simulate_variants(scenario)
    json_path, png_path = write_outputs(result, args.out)
    summary = {key: value for key, value in result.items() if key not in ("scenario", "points", "policies")}
    summary["mean_regret"] = {name: data["mean_regret"] for name, data in result["policies"].items()}
    print(json.dumps(summary, indent=1))
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
