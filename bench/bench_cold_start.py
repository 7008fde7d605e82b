"""Cold start and resident memory: ``python -m api`` (as ``make serve`` runs it) to ``/health`` 200.

Starts the server in a subprocess on a free loopback port with an empty temporary template registry (so
the shipped templates are imported, as on a first run), times process start to the first ``/health`` 200,
then reads the resident memory of the API process and its vLLM child processes (engine core, worker):
once at ready and once after one request. Goal (issue 13): <= 30 s to ready on the named machine.

    .venv/bin/python bench/bench_cold_start.py [--runs 1] [--n 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from common import Figure, engine_dtype, engine_settings, lora_kernel, write_result
from serving import ApiProcess

from core.paths import SOURCE_ROOT
from creative.settings import Settings

ROWS = SOURCE_ROOT / "examples" / "rows.jsonl"
MIB = 1 << 20


def one_start(body: dict[str, Any]) -> dict[str, Any]:
    """One server start: seconds to ready, memory at ready and after one request."""
    with ApiProcess() as server:
        ready_s = server.wait_healthy()
        at_ready = server.rss()
        started = time.perf_counter()
        response = httpx.post(f"{server.base_url}/v1/creatives", json=body, timeout=600)
        first_request_s = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"POST /v1/creatives: {response.status_code} {response.text[:500]}")
        after_request = server.rss()
    return {
        "ready_s": round(ready_s, 2),
        "first_request_s": round(first_request_s, 2),
        "rss_at_ready_mib": {k: round(v / MIB) if k != "child_processes" else v for k, v in at_ready.items()},
        "rss_after_request_mib": {
            k: round(v / MIB) if k != "child_processes" else v for k, v in after_request.items()
        },
    }


def main() -> None:
    """Start the server ``--runs`` times and write ``bench/results/cold_start.json``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="server starts (the median is the figure)")
    parser.add_argument("--n", type=int, default=2, help="candidates in the one request after ready")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    row = json.loads(ROWS.read_text().splitlines()[0])
    body = {**row, "n": args.n, "k": 1, "seed": 1}
    runs = [one_start(body) for _ in range(args.runs)]
    ready = statistics.median(r["ready_s"] for r in runs)
    memory = statistics.median(r["rss_after_request_mib"]["total"] for r in runs)
    settings = Settings()
    write_result(
        "cold_start",
        [
            Figure("cold start: python -m api to /health 200", round(ready, 2), "s", "<= 30"),
            Figure("resident memory after one request (API + vLLM processes)", memory, "MiB"),
        ],
        {"runs": runs},
        dtype=engine_dtype(settings),
        kernel=lora_kernel() if settings.enable_lora else None,
        settings={"args": vars(args) | {"output": None}, "engine": engine_settings(settings)},
        output=args.output,
    )


if __name__ == "__main__":
    main()
