"""The HTTP service under load: 1 / 4 / 16 / 32 concurrent clients, LoRA on and off, in one run.

Starts ``python -m api`` as ``make serve`` does (real vLLM engine, real MiniLM ranker, uvicorn over real
HTTP; free loopback port, empty temporary template registry) with the queue raised so the largest level
fits (``ADCREATIVE_MAX_QUEUED_REQUESTS``; any 429 is counted and reported). For each level, interleaved,
the same bodies with ``adapter: house`` (LoRA on) and ``adapter: null`` (LoRA off): wall time, aggregate
completion tok/s, p50/p99 latency, HTTP statuses, and wall ÷ one request (the median of three single
requests of that arm). Goals (issue 13): 16 concurrent (house, n=4) <= 4x one request, and that ratio
<= 1.2x the same ratio with LoRA off.

    .venv/bin/python bench/bench_api.py [--levels 1,4,16,32] [--n 4] [--server-env KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from common import Figure, engine_dtype, engine_settings, lora_kernel, ratio, run_settings, write_result
from serving import ApiProcess, percentile

from core.paths import SOURCE_ROOT
from creative.settings import Settings

ROWS = SOURCE_ROOT / "examples" / "rows.jsonl"
ARMS = {"lora_on": "house", "lora_off": None}


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[int, float, int]:
    """(status, seconds, completion tokens) of one POST /v1/creatives; other than 200/429 is an error."""
    started = time.perf_counter()
    response = await client.post("/v1/creatives", json=body)
    seconds = time.perf_counter() - started
    if response.status_code not in (200, 429):
        raise RuntimeError(f"POST /v1/creatives: {response.status_code} {response.text[:1000]}")
    tokens = response.json()["usage"]["completion_tokens"] if response.status_code == 200 else 0
    return response.status_code, seconds, tokens


async def level(client: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """All ``bodies`` at once: wall, aggregate tok/s, latency percentiles (successes), statuses."""
    started = time.perf_counter()
    answers = await asyncio.gather(*(post(client, body) for body in bodies))
    wall = time.perf_counter() - started
    ok = [seconds for status, seconds, _ in answers if status == 200]
    statuses = Counter(str(status) for status, _, _ in answers)
    return {
        "clients": len(bodies),
        "wall_s": round(wall, 3),
        "completion_tokens": sum(t for _, _, t in answers),
        "tokens_per_s": round(sum(t for _, _, t in answers) / wall, 1),
        "latency_p50_s": round(percentile(ok, 0.5), 3) if ok else None,
        "latency_p99_s": round(percentile(ok, 0.99), 3) if ok else None,
        "statuses": dict(statuses),
        "rejected_429": statuses.get("429", 0),
    }


async def measure(base_url: str, rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up, single-request baselines, then every level for both arms (interleaved)."""
    limits = httpx.Limits(max_connections=max(args.levels) + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=1800, limits=limits) as client:

        def bodies(adapter: str | None, count: int) -> list[dict[str, Any]]:
            return [
                {**rows[i % len(rows)], "n": args.n, "k": min(2, args.n), "seed": i, "adapter": adapter}
                for i in range(count)
            ]

        results: dict[str, Any] = {arm: {"levels": {}} for arm in ARMS}
        for adapter in ARMS.values():
            await level(client, bodies(adapter, 2))  # warm-up: grammar compilation, adapter load
        for arm, adapter in ARMS.items():
            singles = [(await level(client, bodies(adapter, 1)))["wall_s"] for _ in range(3)]
            results[arm]["single_request_s"] = round(statistics.median(singles), 3)
        for clients in args.levels:
            for arm, adapter in ARMS.items():
                measured = await level(client, bodies(adapter, clients))
                measured["wall_vs_single"] = ratio(measured["wall_s"], results[arm]["single_request_s"], 2)
                results[arm]["levels"][str(clients)] = measured
    return results


def figures(results: dict[str, Any], levels: list[int]) -> list[Figure]:
    """Wall ÷ one request for both arms, their ratio, tok/s, latencies and 429s."""
    found: list[Figure] = []
    top = str(16 if 16 in levels else max(levels))
    on, off = results["lora_on"]["levels"], results["lora_off"]["levels"]
    found.append(
        Figure(f"API {top} concurrent ÷ one request wall, LoRA on", on[top]["wall_vs_single"], goal="<= 4")
    )
    found.append(Figure(f"API {top} concurrent ÷ one request wall, LoRA off", off[top]["wall_vs_single"]))
    found.append(
        Figure(
            f"API {top} concurrent wall ratio, LoRA on ÷ off",
            ratio(on[top]["wall_vs_single"] or 0, off[top]["wall_vs_single"] or 0),
            goal="<= 1.2",
        )
    )
    for clients in map(str, levels):
        for arm, label in (("lora_on", "on"), ("lora_off", "off")):
            measured = results[arm]["levels"][clients]
            found.append(
                Figure(f"API {clients} clients tok/s, LoRA {label}", measured["tokens_per_s"], "tok/s")
            )
            found.append(
                Figure(f"API {clients} clients p50 latency, LoRA {label}", measured["latency_p50_s"], "s")
            )
            found.append(
                Figure(f"API {clients} clients p99 latency, LoRA {label}", measured["latency_p99_s"], "s")
            )
            found.append(
                Figure(f"API {clients} clients 429s, LoRA {label}", measured["rejected_429"], "count", "0")
            )
    return found


def main() -> None:
    """Serve, measure and write ``bench/results/api.json``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16, 32])
    parser.add_argument("--n", type=int, default=4, help="candidates per request")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra server setting, e.g. ADCREATIVE_MAX_OUTPUT_TOKENS=64 (repeatable)",
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings()
    extra = dict(item.split("=", 1) for item in args.server_env)
    slots = int(extra.get("ADCREATIVE_MAX_CONCURRENT_REQUESTS", settings.max_concurrent_requests))
    env = {"ADCREATIVE_MAX_QUEUED_REQUESTS": str(max(0, max(args.levels) - slots)), **extra}
    rows = [json.loads(line) for line in ROWS.read_text().splitlines() if line.strip()]
    with ApiProcess(env) as server:
        start_s = server.wait_healthy()
        results = asyncio.run(measure(server.base_url, rows, args))
    write_result(
        "api",
        figures(results, args.levels),
        {"ready_s": round(start_s, 2), **results},
        dtype=engine_dtype(settings),
        kernel=lora_kernel(),
        settings=run_settings(args, engine_settings(settings), server_env=env),
        output=args.output,
    )


if __name__ == "__main__":
    main()
