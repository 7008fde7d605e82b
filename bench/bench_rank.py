"""Ranking cost on real copy: throughput (variants/s) and its share of request time, in one run.

Writes candidates for every row of the rows file on the real engine, then ranks them with the real
MiniLM ranker three ways: request by request (what the API does), all requests in one ``rank_many`` call
(what the batch runner does), and inside the full pipeline (sequential requests, so each request's
``rank_s`` / (``generate_s`` + ``rank_s``) is its share of the request time). The first two also run on
a ranker without the profile/product embedding cache (same embedder), so the cache's effect is a ratio
from the same run. Prints and writes ``bench/results/rank.json``. Goals (issue 13): >= 400 variants/s on
2 cores, < 10 % of request time.

    .venv/bin/python bench/bench_rank.py [--input examples/rows.jsonl] [--n 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from common import Figure, engine_settings, ratio, write_result

from core.paths import SOURCE_ROOT
from core.schema import CreativeRequest, CreativeResult
from creative.engine import VllmEngine
from creative.pipeline import CreativePipeline
from creative.rows import parse_row
from creative.settings import Settings
from creative.writer import CreativeWriter
from ranking.rank import Ranker, RankItem


def load_requests(path: Path, n: int) -> list[CreativeRequest]:
    """The valid rows of ``path`` with ``n`` candidates each."""
    requests = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parsed = parse_row(line) if line.strip() else None
        if isinstance(parsed, CreativeRequest):
            requests.append(parsed.model_copy(update={"n": n, "k": min(parsed.k or 3, n)}))
    return requests


def best_rate(run: object, variants: int, repeats: int) -> tuple[float, float]:
    """(best, median) variants/s of ``run()`` over ``repeats`` timed calls."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        rates.append(variants / (time.perf_counter() - started))
    return max(rates), statistics.median(rates)


async def write_and_run(
    pipeline: CreativePipeline, requests: list[CreativeRequest], sequential_rows: int
) -> tuple[list[CreativeResult], list[CreativeResult]]:
    """All requests written concurrently (vLLM batches them, unranked), then the first rows through the
    whole pipeline one at a time, as single API calls see it. One event loop: the engine is bound to it."""
    written = await asyncio.gather(*(pipeline.writer.write(r, f"bench-{i}") for i, r in enumerate(requests)))
    await pipeline.run(requests[0], "bench-warm-up")
    sequential = [await pipeline.run(r, f"bench-seq-{i}") for i, r in enumerate(requests[:sequential_rows])]
    return list(written), sequential


def main() -> None:
    """Run the benchmark and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SOURCE_ROOT / "examples" / "rows.jsonl")
    parser.add_argument("--n", type=int, default=8, help="candidates per request")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sequential-rows", type=int, default=5)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings()
    requests = load_requests(args.input, args.n)
    ranker = Ranker.from_settings()
    engine = VllmEngine.start(settings)
    try:
        pipeline = CreativePipeline(CreativeWriter(engine, settings), ranker)
        results, sequential = asyncio.run(write_and_run(pipeline, requests, args.sequential_rows))
    finally:
        engine.shutdown()

    items = [(req, res.variants, res.k) for req, res in zip(requests, results, strict=True)]
    variants = sum(len(res.variants) for res in results)
    uncached = Ranker(ranker.embedder, ranker.settings.model_copy(update={"embed_cache_size": 0}))
    rates = {"cached": rank_rates(ranker, items, variants, args.repeats)}
    rates["uncached"] = rank_rates(uncached, items, variants, args.repeats)
    generate_s = sum(r.timings["generate_s"] for r in sequential)
    rank_s = sum(r.timings["rank_s"] for r in sequential)
    cached, plain = rates["cached"], rates["uncached"]
    write_result(
        "rank",
        [
            Figure(
                "ranking variants/s, rank_many (batch)", cached["rank_many"]["median"], "variants/s", ">= 400"
            ),
            Figure(
                "ranking variants/s, per request (API)",
                cached["per_request"]["median"],
                "variants/s",
                ">= 400",
            ),
            Figure(
                "ranking per request, cached ÷ uncached contexts",
                ratio(cached["per_request"]["median"], plain["per_request"]["median"]),
            ),
            Figure(
                "ranking rank_many, cached ÷ uncached contexts",
                ratio(cached["rank_many"]["median"], plain["rank_many"]["median"]),
            ),
            Figure(
                "ranking share of request time", round(rank_s / (generate_s + rank_s), 4), "fraction", "< 0.1"
            ),
        ],
        {
            "embedder": ranker.settings.resolved_embedder_path.name,
            "requests": len(requests),
            "variants": variants,
            **rates,
            "context_cache": ranker.context_cache.stats(),
            "sequential_requests": len(sequential),
            "mean_generate_s": round(generate_s / len(sequential), 4),
            "mean_rank_s": round(rank_s / len(sequential), 4),
        },
        dtype=engine.dtype,
        kernel=None,
        settings={
            "args": {k: str(v) for k, v in vars(args).items() if k != "output"},
            "engine": engine_settings(settings),
            "ranking": ranker.settings.model_dump(mode="json"),
        },
        output=args.output,
    )


def rank_rates(ranker: Ranker, items: list[RankItem], variants: int, repeats: int) -> dict[str, Any]:
    """Variants/s (best, median) request by request and in one ``rank_many``, after one warm-up call."""
    ranker.rank_many(items)  # warm-up (and, with the cache, the contexts are in it from here on)

    def per_request() -> None:
        for request, candidates, k in items:
            ranker.rank(request, candidates, k)

    loop_best, loop_median = best_rate(per_request, variants, repeats)
    batch_best, batch_median = best_rate(lambda: ranker.rank_many(items), variants, repeats)
    return {
        "per_request": {"best": round(loop_best, 1), "median": round(loop_median, 1)},
        "rank_many": {"best": round(batch_best, 1), "median": round(batch_median, 1)},
        "batch_vs_per_request": round(batch_median / loop_median, 2),
    }


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
