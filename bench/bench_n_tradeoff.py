"""How many candidates per request: n vs personalization vs latency, with one adapter on the test rows.

For each ``n`` every test row is written as a request (top 2 kept, seeded) the way the evaluation writes
them, ranked by the real ranker and scored (both personalization judges, valid first try, misspelled
rate); then ``--latency-requests`` requests are sent one at a time to time a lone request (what a caller
waits for on an idle server). One engine for all ``n``, so the figures are side by side. The same
candidates are then re-ranked with each ``--profile-weights`` value (product weight = 1 − it): ranking
is cheap, so the ranker's weight is chosen on identical copy.

    .venv/bin/python bench/bench_n_tradeoff.py --adapter house --n 2 4 8 --profile-weights 0.5 0.6 0.7
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import Figure, engine_settings, run_settings, write_result  # noqa: E402

from creative.adapters import registry_from_settings  # noqa: E402
from creative.engine import VllmEngine  # noqa: E402
from creative.settings import Settings  # noqa: E402
from creative.training.data import validate_files  # noqa: E402
from creative.training.evaluate import profile_pairs, prompt_text, requests_for, score_arm  # noqa: E402
from creative.writer import CreativeWriter  # noqa: E402
from ranking.rank import Ranker  # noqa: E402

KEPT = ("personalization", "lexical_personalization", "valid_first_try_rate", "misspelled_rate", "novelty")


async def measure(
    writer: CreativeWriter, ranker: Ranker, rows: list[Any], n: int, lone: int, weights: list[float]
) -> dict[str, Any]:
    """Scorecard figures over all rows at once, then the latency of ``lone`` requests one at a time."""
    requests = requests_for(rows, n)  # no adapter named: the writer serves its default
    started = time.perf_counter()
    results = await asyncio.gather(*(writer.write(r, f"n{n}-{i}") for i, r in enumerate(requests)))
    batch_s = time.perf_counter() - started
    texts = [prompt_text(writer, r) for r in requests]
    pairs = profile_pairs(requests)
    card = score_arm(ranker, requests, list(results), pairs, texts)["scorecard"]
    reweighted = {}
    for weight in weights:
        update = {"profile_weight": weight, "product_weight": round(1 - weight, 6)}
        other = Ranker(ranker.embedder, ranker.settings.model_copy(update=update))
        scored = score_arm(other, requests, list(results), pairs, texts)["scorecard"]
        reweighted[str(weight)] = {key: scored[key] for key in ("personalization", "lexical_personalization")}
    latencies = []
    for i, request in enumerate(requests[:lone]):
        started = time.perf_counter()
        result = await writer.write(request.model_copy(update={"seed": 50_000 + i}), f"lone-n{n}-{i}")
        ranker.rank_many([(request, result.variants, result.k)])
        latencies.append(time.perf_counter() - started)
    return {
        "n": n,
        **{key: card[key] for key in KEPT},
        "batch_seconds_per_row": batch_s / len(requests),
        "lone_request_p50_s": statistics.median(latencies) if latencies else None,
        "lone_request_max_s": max(latencies) if latencies else None,
        "by_profile_weight": reweighted,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", default=str(ROOT / "data/ad_copy/test.jsonl"))
    parser.add_argument("--adapter", default="house")
    parser.add_argument("--n", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--latency-requests", type=int, default=12)
    parser.add_argument("--profile-weights", type=float, nargs="*", default=[0.5, 0.6, 0.7])
    args = parser.parse_args()

    rows = validate_files([Path(args.test)]).rows
    settings = Settings().model_copy(update={"default_adapter": args.adapter})
    registry = registry_from_settings(settings)
    ranker = Ranker.from_settings()
    engine = VllmEngine.start(settings)
    try:
        writer = CreativeWriter(engine, settings, adapters=registry)

        async def run_all() -> list[dict[str, Any]]:
            lone, weights = args.latency_requests, args.profile_weights
            return [await measure(writer, ranker, rows, n, lone, weights) for n in args.n]

        points = asyncio.run(run_all())
    finally:
        engine.shutdown()
    for point in points:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in point.items()}, file=sys.stderr)
    figures = []
    for point in points:
        n = point["n"]
        figures += [
            Figure(f"n={n}: personalization (embedding)", point["personalization"]),
            Figure(f"n={n}: personalization (lexical)", point["lexical_personalization"]),
            Figure(f"n={n}: lone request p50", point["lone_request_p50_s"], "s"),
        ]
        for weight, judged in point["by_profile_weight"].items():
            figures.append(
                Figure(f"n={n}, profile weight {weight}: personalization", judged["personalization"])
            )
            figures.append(
                Figure(f"n={n}, profile weight {weight}: lexical", judged["lexical_personalization"])
            )
    write_result(
        "n_tradeoff",
        figures,
        {"adapter": args.adapter, "rows": len(rows), "points": points},
        dtype=engine.dtype,
        kernel=None,
        settings=run_settings(args, engine_settings(settings)),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
