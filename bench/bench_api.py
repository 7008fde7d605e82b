"""The HTTP service under load, over real HTTP: 16 concurrent requests vs 16 sequential ones, in one run.

Starts the full app (real vLLM engine + real MiniLM ranker) under uvicorn on a free local port, then
times one request alone, 16 requests one after another and 16 at once; prints and writes
``bench/results/api.json`` with wall times, their ratios and p50/p99 latencies. Goal (issue): the 16
concurrent requests take <= 4x the wall time of a single request.

    .venv/bin/python bench/bench_api.py [--requests 16] [--n 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from creative.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "bench" / "results" / "api.json"
ROWS = PROJECT_ROOT / "examples" / "rows.jsonl"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def timed_post(client: httpx.AsyncClient, body: dict[str, Any]) -> float:
    """Seconds for one successful POST /v1/creatives."""
    started = time.perf_counter()
    response = await client.post("/v1/creatives", json=body)
    response.raise_for_status()
    return time.perf_counter() - started


async def measure(port: int, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Single, sequential and concurrent passes against the running server."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=900) as client:
        for _ in range(1200):  # the engine takes ~20-60 s to start on 2 cores
            if (await client.get("/health")).status_code == 200:
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError("the server did not become ready in 10 minutes")
        await timed_post(client, bodies[0])  # warm-up: grammar compilation, first allocations
        single = statistics.median([await timed_post(client, bodies[0]) for _ in range(3)])
        started = time.perf_counter()
        sequential = [await timed_post(client, body) for body in bodies]
        sequential_wall = time.perf_counter() - started
        started = time.perf_counter()
        concurrent = list(await asyncio.gather(*(timed_post(client, body) for body in bodies)))
        concurrent_wall = time.perf_counter() - started
    return {
        "requests": len(bodies),
        "single_request_s": round(single, 3),
        "sequential_wall_s": round(sequential_wall, 3),
        "concurrent_wall_s": round(concurrent_wall, 3),
        "concurrent_wall_vs_single": round(concurrent_wall / single, 2),
        "sequential_vs_concurrent_speedup": round(sequential_wall / concurrent_wall, 2),
        "sequential_latency_p50_s": round(percentile(sequential, 0.5), 3),
        "sequential_latency_p99_s": round(percentile(sequential, 0.99), 3),
        "concurrent_latency_p50_s": round(percentile(concurrent, 0.5), 3),
        "concurrent_latency_p99_s": round(percentile(concurrent, 0.99), 3),
    }


async def run(settings: ApiSettings, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Serve the app and measure it; stop the server (and so the engine) afterwards."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # the socket is bound once uvicorn says so (lifespan starts first)
            if serving.done():
                serving.result()  # surface a start-up failure
            await asyncio.sleep(0.1)
        return await measure(port, bodies)
    finally:
        server.should_exit = True
        await serving


def main() -> None:
    """Run the benchmark and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--n", type=int, default=4, help="candidates per request")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    rows = [json.loads(line) for line in ROWS.read_text().splitlines() if line.strip()]
    bodies = [{**rows[i % len(rows)], "n": args.n, "k": 2, "seed": i} for i in range(args.requests)]
    settings = ApiSettings(max_concurrent_requests=max(args.requests, 16), log_format="text")
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "n": args.n,
        **asyncio.run(run(settings, bodies)),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
