"""A batch is one transaction: a server killed with SIGKILL in the middle of posting batches leaves whole
batches or none, and every batch it confirmed is there (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import func, select

from core.paths import SOURCE_ROOT
from experiments.db import EventRow
from experiments.store import CreativeChoice, ExperimentStore
from tests.unit.experiments.support import pinned, spec

BATCH = 400
CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from experiments.events import ingest
    from experiments.settings import ExperimentSettings
    from experiments.store import CreativeChoice, ExperimentStore

    url, decision, creative = sys.argv[1:4]
    store = ExperimentStore.from_url(url, migrate_schema=False)
    settings = ExperimentSettings()
    now = datetime.now(UTC).isoformat()
    batch = 0
    while True:
        items = [
            {"event_id": f"b{batch}-{i}", "decision_id": decision, "creative_id": creative,
             "type": "impression", "event_time": now}
            for i in range(BATCH)
        ]
        result = ingest(store, items, settings)
        assert result.accepted == BATCH, result.rejected
        print(f"committed {batch}", flush=True)
        batch += 1
    """
).replace("BATCH", str(BATCH))


def test_a_killed_writer_leaves_whole_batches(database_url: str) -> None:
    store = ExperimentStore.from_url(database_url)
    experiment = store.create(spec(), pinned(), "tester")
    assignment = store.assign(experiment.id, "u1", "google_search", None)
    decision = store.record_decision(assignment, None, [CreativeChoice()])
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, database_url, decision.id, decision.creative_ids[0]],
        cwd=SOURCE_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SOURCE_ROOT)},
    )
    assert child.stdout is not None
    confirmed = -1
    deadline = time.monotonic() + 120
    while confirmed < 2 and time.monotonic() < deadline:
        line = child.stdout.readline()
        assert line, f"the writer exited with {child.wait()}"
        confirmed = int(line.split()[1])
    time.sleep(0.05)  # into the next batch
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    with store.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(EventRow))
    store.close()
    assert stored is not None and stored % BATCH == 0, stored
    assert stored >= (confirmed + 1) * BATCH
