"""Event ingestion through the real HTTP API, on SQLite and on PostgreSQL: events/s and the report time.

``python -m api`` serves each database in turn; decisions (the served creatives events refer to) are
seeded straight into the database, then clients POST ``/v1/events`` in batches of 1,000 (impressions,
with a click on about 2% and a conversion on about 10% of those), and ``GET /v1/experiments/{id}/report``
is timed at the final size. Writes ``bench/results/events.json``.

    python bench/bench_events.py                       # 1,000,000 events on each database
    python bench/bench_events.py --events 100000       # a quicker look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from common import Figure, ratio, write_result
from serving import ApiProcess

from core.paths import SOURCE_ROOT
from experiments.db import CreativeRow, DecisionRow
from experiments.models import ExperimentCreate, PinnedArm
from experiments.store import ExperimentStore

sys.path.insert(0, str(SOURCE_ROOT))  # the embedded PostgreSQL helper lives with the tests
from tests.support.postgres import fresh_database, postgres_server

BATCH = 1000
EVENTS_PER_DECISION = 10


def seed(url: str, decisions: int) -> tuple[str, list[tuple[str, str]]]:
    """An experiment with ``decisions`` decisions (one creative each) inserted in bulk; their ids."""
    store = ExperimentStore.from_url(url)
    spec = ExperimentCreate.model_validate(
        {"name": "load", "placement": "google_search", "control": "a", "arms": [{"name": "a"}, {"name": "b"}]}
    )
    pinned = [PinnedArm(name=n, template="google_search@1", adapter=None, propensity=0.5) for n in "ab"]
    experiment = store.create(spec, pinned, "bench")
    now = datetime.now(UTC) - timedelta(minutes=5)
    ids = [("dec_" + secrets.token_hex(12), "cr_" + secrets.token_hex(12)) for _ in range(decisions)]
    with store.sessions.begin() as session:
        session.execute(
            DecisionRow.__table__.insert(),
            [
                {
                    "id": d,
                    "experiment_id": experiment.id,
                    "arm": "ab"[i % 2],
                    "template_ref": "google_search@1",
                    "adapter": None,
                    "unit_hash": secrets.token_hex(32),
                    "segment": None,
                    "placement": "google_search",
                    "propensity": 0.5,
                    "policy": "fixed_split",
                    "policy_version": 1,
                    "created_at": now,
                }
                for i, (d, _) in enumerate(ids)
            ],
        )
        session.execute(
            CreativeRow.__table__.insert(), [{"id": c, "decision_id": d, "position": 0} for d, c in ids]
        )
    store.close()
    return experiment.id, ids


def batches(ids: list[tuple[str, str]], total: int) -> Iterator[list[dict[str, Any]]]:
    """Batches of events: per decision an impression stream, clicks after some, conversions after clicks."""
    at = datetime.now(UTC) - timedelta(minutes=1)
    events: list[dict[str, Any]] = []
    serial = 0
    for round_ in range(EVENTS_PER_DECISION):
        for index, (decision, creative) in enumerate(ids):
            kind = "impression"
            if round_ == EVENTS_PER_DECISION - 2 and index % 50 == 0:
                kind = "click"
            elif round_ == EVENTS_PER_DECISION - 1 and index % 500 == 0:
                kind = "conversion"
            events.append(
                {
                    "event_id": f"e{serial}",
                    "decision_id": decision,
                    "creative_id": creative,
                    "type": kind,
                    "event_time": (at + timedelta(milliseconds=round_)).isoformat(),
                }
            )
            serial += 1
            if len(events) == BATCH:
                yield events
                events = []
            if serial == total:
                if events:
                    yield events
                return


async def post_all(base_url: str, ids: list[tuple[str, str]], total: int, clients: int) -> dict[str, Any]:
    """POST every batch with ``clients`` concurrent connections; events/s and the answers' counts."""
    queue: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue(maxsize=clients * 2)
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0, "batches": 0}

    async def worker(client: httpx.AsyncClient) -> None:
        while (batch := await queue.get()) is not None:
            answer = await client.post("/v1/events", json={"events": batch})
            answer.raise_for_status()
            body = answer.json()
            for key in ("accepted", "duplicates", "rejected"):
                counts[key] += body[key]
            counts["batches"] += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        workers = [asyncio.create_task(worker(client)) for _ in range(clients)]
        for number, batch in enumerate(batches(ids, total)):
            await queue.put(batch)
            if number % 100 == 0:
                print(f"  {number * BATCH:>9,} events sent", file=sys.stderr, flush=True)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    seconds = time.perf_counter() - started
    return {**counts, "seconds": round(seconds, 2), "events_per_s": round(counts["accepted"] / seconds, 1)}


def run_backend(name: str, url: str, total: int, clients: int) -> dict[str, Any]:
    """Seed, serve, post, report on one database."""
    experiment_id, ids = seed(url, total // EVENTS_PER_DECISION)
    env = {"ADCREATIVE_TEMPLATES_DB_URL": url, "ADCREATIVE_EXPERIMENTS_DB_URL": url}
    with ApiProcess(env=env) as api:
        api.wait_healthy()  # the engine idles once started: nothing else competes for the cores
        print(f"{name}: posting {total:,} events", file=sys.stderr, flush=True)
        posted = asyncio.run(post_all(api.base_url, ids, total, clients))
        started = time.perf_counter()
        report = httpx.get(f"{api.base_url}/v1/experiments/{experiment_id}/report", timeout=600)
        report.raise_for_status()
        report_s = time.perf_counter() - started
    arms = report.json()["arms"]
    return {
        **posted,
        "report_seconds": round(report_s, 2),
        "units": sum(a["units"] for a in arms),
        "impressions": sum(a["impressions"] for a in arms),
        "clicks": sum(a["clicks"] for a in arms),
    }


def main() -> None:
    """Run both databases and write the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP connections posting batches")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-events-"))
        results["sqlite"] = run_backend("sqlite", f"sqlite:///{tmp}/events.db", args.events, args.clients)
        server = stack.enter_context(postgres_server())
        results["postgresql"] = run_backend("postgresql", fresh_database(server), args.events, args.clients)
    figures = [
        Figure(f"events/s through the API, {db}", results[db]["events_per_s"], unit="events/s")
        for db in ("sqlite", "postgresql")
    ] + [
        Figure(f"report time at {args.events:,} events, {db}", results[db]["report_seconds"], unit="s")
        for db in ("sqlite", "postgresql")
    ]
    figures.append(
        Figure(
            "PostgreSQL ÷ SQLite events/s",
            ratio(results["postgresql"]["events_per_s"], results["sqlite"]["events_per_s"]),
        )
    )
    write_result(
        "events",
        figures,
        results,
        dtype=None,
        kernel=None,
        settings={"events": args.events, "batch": BATCH, "clients": args.clients},
    )


if __name__ == "__main__":
    main()
