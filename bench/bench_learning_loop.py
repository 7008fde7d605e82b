"""The served learning loop end to end on a real database: scenario A's arms (click rates 1-5%) served by
``ExperimentStore.assign`` / ``record_decision``, impressions and clicks posted through the events
ingestion, and the policy learned by ``PolicyUpdater`` from the stored events in hourly batches, on a
simulated clock (1,000 impressions per hour). Compares the regret with a uniform split's expectation
(the simulator's scenario A-hourly, in-process, is the reference), checks a restarted store rebuilds the
same policy, and times a policy update at the final size. Writes ``bench/results/learning_loop.json``.

    python bench/bench_learning_loop.py                 # 10,000 impressions × 3 seeds on SQLite (--seeds 10)
    python bench/bench_learning_loop.py --postgresql    # ... on the embedded PostgreSQL
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from common import Figure, write_result

from core.paths import SOURCE_ROOT
from experiments.events import ingest
from experiments.learning import PolicyUpdater, UpdateRule
from experiments.models import ExperimentCreate, PinnedArm
from experiments.settings import ExperimentSettings
from experiments.simulate import load_scenario, simulate
from experiments.store import CreativeChoice, ExperimentStore

sys.path.insert(0, str(SOURCE_ROOT))  # the embedded PostgreSQL helper lives with the tests
from tests.support.postgres import fresh_database, postgres_server

RATES = np.array([0.01, 0.02, 0.03, 0.04, 0.05])  # scenario A
PER_HOUR = 1000
EVENT_BATCH = 100


class SimClock:
    """The time every experiments module reads, advanced by the bench (3.6 s per impression: an hour per
    1,000)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def simulated(clock: SimClock) -> Iterator[None]:
    """Patch the clock of every experiments module that reads it."""
    modules = ("store", "events", "learning", "versions")
    with contextlib.ExitStack() as stack:
        for module in modules:
            stack.enter_context(mock.patch(f"experiments.{module}.utcnow", clock))
        yield


def _experiment(store: ExperimentStore) -> str:
    arms = [{"name": f"a{i}", "template": "google_search@1"} for i in range(len(RATES))]
    spec = ExperimentCreate.model_validate(
        {
            "name": "loop",
            "placement": "google_search",
            "control": "a0",
            "arms": arms,
            "policy": {"name": "thompson", "reward_wait_seconds": 0},
        }
    )
    pinned = [
        PinnedArm(name=a["name"], template="google_search@1", adapter=None, propensity=1 / len(arms))
        for a in arms
    ]
    return store.create(spec, pinned, "bench").id


def run_loop(url: str, impressions: int, seed: int) -> dict[str, Any]:
    """Serve ``impressions`` through the store with hourly updates; regret and timings."""
    clock, luck = SimClock(), np.random.default_rng(seed)
    settings = ExperimentSettings(attribution_window_days=30)
    updater = PolicyUpdater(UpdateRule(events=10**9, seconds=3600))  # hourly
    store = ExperimentStore.from_url(url)
    regret, served_seconds, update_seconds, pending = 0.0, 0.0, [], []
    with simulated(clock):
        experiment_id = _experiment(store)  # its id and salt are random: runs differ, seeds average out
        for i in range(impressions):
            started = time.perf_counter()
            assignment = store.assign(experiment_id, f"{seed}-{i}", "google_search", "all")
            decision = store.record_decision(assignment, "all", [CreativeChoice()])
            served_seconds += time.perf_counter() - started
            arm = int(assignment.arm.name[1:])
            regret += RATES.max() - RATES[arm]
            pending.append(_event(decision, "impression", clock.now))
            if luck.random() < RATES[arm]:
                pending.append(_event(decision, "click", clock.now))
            if len(pending) >= EVENT_BATCH:
                ingest(store, pending, settings)
                pending = []
            clock.now += timedelta(hours=1) / PER_HOUR
            if (i + 1) % PER_HOUR == 0:
                ingest(store, pending, settings)
                pending = []
                started = time.perf_counter()
                store.update_policies(updater)
                update_seconds.append(time.perf_counter() - started)
        final = store.assign(experiment_id, "probe", "google_search", "all")
    restarted = ExperimentStore.from_url(url)
    try:
        with simulated(clock):
            rebuilt = restarted.assign(experiment_id, "probe", "google_search", "all")
    finally:
        restarted.close()
        store.close()
    uniform = impressions * (RATES.max() - RATES.mean())
    return {
        "regret": regret,
        "regret_vs_uniform": regret / uniform,
        "versions": final.policy_version,
        "best_arm_share_at_end": final.propensities["a4"],
        "rebuilt_identical": rebuilt.propensities == final.propensities,
        "serve_ms": 1000 * served_seconds / impressions,
        "update_ms_last": 1000 * update_seconds[-1],
    }


def _event(decision: Any, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": f"{kind}-{decision.id}",
        "decision_id": decision.id,
        "creative_id": decision.creative_ids[0],
        "type": kind,
        "event_time": at.isoformat(),
    }


def main() -> None:
    """Run the loop for each seed and the in-process simulator beside it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impressions", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--postgresql", action="store_true")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as folder, _server(args.postgresql) as server:
        for seed in range(1, args.seeds + 1):
            url = fresh_database(server) if server else f"sqlite:///{Path(folder) / f'loop{seed}.db'}"
            runs.append(run_loop(url, args.impressions, seed))
            print(runs[-1], flush=True)
    reference = simulate(load_scenario("A-hourly").model_copy(update={"seeds": 30}))["policies"]["thompson"]
    database = "postgresql" if args.postgresql else "sqlite"
    served = float(np.mean([r["regret_vs_uniform"] for r in runs]))
    figures = [
        Figure(f"served loop ({database}): thompson regret ÷ uniform, hourly updates", round(served, 3)),
        Figure("simulator A-hourly: thompson regret ÷ uniform", reference["regret_vs_baseline"]),
        Figure(
            f"served loop ({database}): assign + record, per decision",
            round(np.mean([r["serve_ms"] for r in runs]), 2),
            unit="ms",
        ),
        Figure(
            f"served loop ({database}): policy update at {args.impressions:,} decisions",
            round(np.mean([r["update_ms_last"] for r in runs]), 1),
            unit="ms",
        ),
    ]
    assert all(r["rebuilt_identical"] for r in runs), "a restarted store rebuilt a different policy"
    write_result(
        f"learning_loop_{database}",
        figures,
        {"runs": runs, "impressions": args.impressions, "per_hour": PER_HOUR},
        dtype=None,
        kernel=None,
        settings={"seeds": args.seeds, "database": database},
    )


@contextmanager
def _server(postgresql: bool) -> Iterator[str | None]:
    if not postgresql:
        yield None
        return
    with postgres_server() as url:
        yield url


if __name__ == "__main__":
    main()
