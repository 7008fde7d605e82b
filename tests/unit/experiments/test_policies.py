"""Allocation policies: propensities are distributions with the floor, Thompson's Monte Carlo estimate
matches the exact two-arm probability, top-two's closed form matches its procedure, and in simulation the
bandits concentrate traffic on the best arm (and the contextual one on each segment's best)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from experiments import __main__ as cli
from experiments.policies import Context, Observation, Policy, make_policy, top_two_probabilities
from experiments.simulate import SCENARIOS_DIR, load_scenario, run_policy, simulate
from experiments.simulate_bai import classical_ab_sample, top_two_glr_runs
from experiments.simulate_offpolicy import simulate_offpolicy

CONTEXTS = [Context("outdoor", "google_search"), Context("commuter", "push"), Context()]


def feed(policy_name: str, arms: int, rates: list[float], rounds: int = 20, seed: int = 0) -> Policy:
    """A policy updated with ``rounds`` batches of simulated rewards."""
    policy = make_policy(policy_name, arms, floor=0.05)
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        batch = []
        for context in CONTEXTS:
            for _ in range(20):
                arm, _ = policy.choose(context, rng)
                batch.append(Observation(arm, context, float(rng.random() < rates[arm])))
        policy.update(batch)
    return policy


@pytest.mark.parametrize("name", ["uniform", "thompson", "thompson_per_context", "top_two", "lints"])
def test_propensities_are_distributions_that_respect_the_floor(name: str) -> None:
    policy = feed(name, 4, [0.02, 0.05, 0.2, 0.01])
    for context in CONTEXTS:
        p = policy.propensities(context)
        assert p.sum() == pytest.approx(1.0) and p.min() >= 0.05 / 4 - 1e-12
        assert np.array_equal(p, policy.propensities(context))  # cached: one answer per version


def test_thompson_probabilities_match_the_exact_two_arm_answer() -> None:
    policy = make_policy("thompson_plain", 2, floor=0.0)
    policy.update([Observation(0, Context(), 1.0)] * 3 + [Observation(0, Context(), 0.0)] * 17)
    policy.update([Observation(1, Context(), 1.0)] * 5 + [Observation(1, Context(), 0.0)] * 15)
    a, b = stats.beta(4, 18), stats.beta(6, 16)
    exact = integrate.quad(lambda x: a.pdf(x) * b.cdf(x), 0, 1)[0]  # P(arm 0's sample beats arm 1's)
    assert policy.propensities(Context())[0] == pytest.approx(exact, abs=0.04)  # 1,000 draws: SE ≈ 0.013


def test_top_two_closed_form_matches_its_procedure() -> None:
    best = np.array([0.6, 0.3, 0.1])
    closed = top_two_probabilities(best, beta=0.5)
    rng = np.random.default_rng(1)
    leaders = rng.choice(3, 200_000, p=best)
    picks = leaders.copy()
    for index in np.flatnonzero(rng.random(len(picks)) >= 0.5):  # the challenger: resample until different
        while (challenger := rng.choice(3, p=best)) == leaders[index]:
            pass
        picks[index] = challenger
    assert closed == pytest.approx(np.bincount(picks) / len(picks), abs=0.005)
    assert top_two_probabilities(best, beta=1.0) == pytest.approx(best)


def test_thompson_concentrates_on_the_best_arm_and_beats_uniform() -> None:
    scenario = load_scenario("A").model_copy(update={"impressions": 4000, "seeds": 2})
    thompson = [run_policy(scenario, "thompson", seed) for seed in (1, 2)]
    uniform = [run_policy(scenario, "uniform", seed) for seed in (1, 2)]
    assert all(run.pulls.argmax() == 4 and run.pulls[4] > 0.4 * 4000 for run in thompson)
    assert sum(r.regret[-1] for r in thompson) < 0.6 * sum(r.regret[-1] for r in uniform)
    assert np.array_equal(run_policy(scenario, "thompson", 1).regret, thompson[0].regret)  # seeded


def test_the_contextual_policy_learns_each_segments_best_arm() -> None:
    scenario = load_scenario("C").model_copy(
        update={"impressions": 20_000, "seeds": 1, "policies": ["thompson", "lints"]}
    )
    result = simulate(scenario)
    assert result["policies"]["lints"]["regret_vs_baseline"] < 0.5


def test_every_committed_scenario_loads_and_the_cli_writes_a_plot(tmp_path: Path) -> None:
    names = sorted(path.stem for path in SCENARIOS_DIR.glob("*.yaml"))
    assert {"A", "A-hourly", "B", "C"} <= set(names)
    for name in names:
        load_scenario(name)
    small = tmp_path / "tiny.yaml"
    small.write_text(
        "name: tiny\narms: [x, y]\nsegments: {all: 1.0}\nctr: {all: [0.1, 0.3]}\nimpressions: 500\n"
        "seeds: 2\npolicies: [uniform, thompson]\nbaseline: uniform\n",
        encoding="utf-8",
    )
    assert cli.main(["simulate", str(small), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["simulate", "no-such-scenario"]) == 1


def test_the_offpolicy_scenario_estimates_its_targets_from_the_logs() -> None:
    scenario = load_scenario("OPE").model_copy(update={"impressions": 20_000, "seeds": 2})
    result = simulate_offpolicy(scenario)
    assert set(result) == {"always c2", "segment's own arm"}
    assert result["segment's own arm"]["truth"] == pytest.approx(0.04)
    for target in result.values():
        for estimator in ("ips", "snips", "dr"):
            assert target[estimator]["median_relative_error"] < 0.3  # 20,000 logs: rough but on target


def test_top_two_with_glr_stopping_names_the_best_arm_with_fewer_impressions_than_planned() -> None:
    rates = np.array([0.02, 0.03, 0.04, 0.08])  # the easy arms are dropped early; a split serves all alike
    used, correct, stopped = top_two_glr_runs(rates, range(8))
    assert correct.all() and stopped.all()
    assert used.mean() < 0.7 * classical_ab_sample(rates)  # 1,751 of 2,872
