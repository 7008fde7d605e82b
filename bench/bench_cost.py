"""How a request's cost grows with ``n``: request time for n = 1, 4, 8, 16 on the real engine, one run.

The same request (first row of ``examples/rows.jsonl``, same seed, the default adapter as shipped)
through the pipeline the API runs (writer on ``VllmEngine`` + the MiniLM ranker, k = min(3, n)), one at a
time, for each ``n``; a warm-up first, then the best of ``--passes`` per ``n`` (interleaved). Each figure
is time(n) ÷ time(1): with continuous batching the n candidates decode together, so it should grow far
slower than n.

    .venv/bin/python bench/bench_cost.py [--ns 1,4,8,16] [--passes 2] [--adapter default]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from common import Figure, engine_settings, lora_kernel, ratio, run_settings, write_result

from core.paths import SOURCE_ROOT
from core.schema import CreativeRequest
from creative.adapters import registry_from_settings
from creative.engine import VllmEngine
from creative.pipeline import CreativePipeline
from creative.settings import Settings
from creative.writer import CreativeWriter
from ranking.rank import Ranker

ROWS = SOURCE_ROOT / "examples" / "rows.jsonl"


async def measure(
    pipeline: CreativePipeline, request: CreativeRequest, args: argparse.Namespace
) -> dict[str, Any]:
    """Best seconds per ``n`` (and what it produced), passes interleaved over the ``n`` values."""
    await pipeline.run(request.model_copy(update={"n": 2, "k": 1}), "cost-warm-up")
    best: dict[str, Any] = {}
    for attempt in range(args.passes):
        for n in args.ns:
            started = time.perf_counter()
            result = await pipeline.run(
                request.model_copy(update={"n": n, "k": min(3, n)}), f"cost-{n}-{attempt}"
            )
            seconds = time.perf_counter() - started
            if str(n) not in best or seconds < best[str(n)]["seconds"]:
                best[str(n)] = {
                    "seconds": round(seconds, 3),
                    "completion_tokens": result.usage.completion_tokens,
                    "rounds": result.stats.rounds,
                    "returned": result.stats.returned,
                    "rank_s": result.timings.get("rank_s"),
                }
    return best


def main() -> None:
    """Run the sizes and write ``bench/results/cost.json``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ns", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 8, 16])
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--adapter", default="default", help="adapter name, 'default' or 'none'")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings()
    row = json.loads(ROWS.read_text().splitlines()[0])
    adapter = None if args.adapter == "none" else args.adapter
    request = CreativeRequest.model_validate({**row, "seed": 3, "adapter": adapter})
    ranker = Ranker.from_settings()
    engine = VllmEngine.start(settings)
    try:
        writer = CreativeWriter(engine, settings, adapters=registry_from_settings(settings))
        best = asyncio.run(measure(CreativePipeline(writer, ranker), request, args))
    finally:
        engine.shutdown()
    first = best[str(args.ns[0])]["seconds"]
    write_result(
        "cost",
        [
            Figure(f"request time n={n} ÷ n={args.ns[0]}", ratio(best[str(n)]["seconds"], first, 2))
            for n in args.ns[1:]
        ]
        + [Figure(f"request time n={n}", best[str(n)]["seconds"], "s") for n in args.ns],
        best,
        dtype=engine.dtype,
        kernel=lora_kernel() if settings.enable_lora and adapter else None,
        settings=run_settings(args, engine_settings(settings)),
        output=args.output,
    )


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
