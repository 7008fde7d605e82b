"""Generation throughput on the real engine: rows concurrently vs one at a time, in one run.

Prints and writes ``bench/results/generate.json``: engine start time, variants/s, output tokens/s and the
valid-first-try rate over the rows file, plus the same figures for a sequential pass over the first rows
(the ratio shows what continuous batching buys). Rows use the default adapter (``house``) as shipped;
``--base-model`` runs them without adapters.

    .venv/bin/python bench/bench_generate.py [--input examples/rows.jsonl] [--sequential-rows 5]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from common import Figure, engine_settings, lora_kernel, ratio, write_result

from core.paths import SOURCE_ROOT
from creative.adapters import registry_from_settings
from creative.cli import RunSummary, generate_file
from creative.engine import VllmEngine
from creative.settings import Settings
from creative.writer import CreativeWriter


async def _run(writer: CreativeWriter, rows: Path, concurrency: int) -> RunSummary:
    with tempfile.TemporaryDirectory() as tmp:
        return await generate_file(rows, Path(tmp) / "out.jsonl", writer.write, concurrency, progress=False)


async def _passes(
    writer: CreativeWriter, rows: Path, sequential_rows: int, concurrency: int
) -> tuple[RunSummary, RunSummary, RunSummary]:
    """All passes in one event loop (vLLM's async engine is bound to the loop that first used it)."""
    # Warm-up: grammar compilation and first-batch allocations are not part of steady state.
    await _run(writer, _head(rows, 1), 1)
    concurrent = await _run(writer, rows, concurrency)
    head = _head(rows, sequential_rows)
    sequential = await _run(writer, head, 1)
    concurrent_head = await _run(writer, head, concurrency)
    return concurrent, sequential, concurrent_head


def main() -> None:
    """Run the benchmark and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SOURCE_ROOT / "examples" / "rows.jsonl")
    parser.add_argument("--sequential-rows", type=int, default=5)
    parser.add_argument("--base-model", action="store_true", help="no adapters (default: house, as shipped)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings()
    started = time.perf_counter()
    engine = VllmEngine.start(settings)
    start_s = time.perf_counter() - started
    try:
        adapters = None if args.base_model else registry_from_settings(settings)
        writer = CreativeWriter(engine, settings, adapters=adapters)
        concurrent, sequential, concurrent_head = asyncio.run(
            _passes(writer, args.input, args.sequential_rows, settings.max_concurrent_requests)
        )
    finally:
        engine.shutdown()

    speedup = ratio(sequential.seconds, concurrent_head.seconds, 2)
    write_result(
        "generate",
        [
            Figure(
                "writer variants/s, all rows concurrent", concurrent.as_dict()["variants_per_s"], "variants/s"
            ),
            Figure(
                "writer output tok/s, all rows concurrent",
                concurrent.as_dict()["output_tokens_per_s"],
                "tok/s",
            ),
            Figure("writer concurrent ÷ sequential speed, same rows", speedup),
            Figure("engine start", round(start_s, 2), "s"),
        ],
        {
            "model": engine.model_name,
            "engine_start_s": round(start_s, 2),
            "all_rows_concurrent": concurrent.as_dict(),
            "sequential_head": sequential.as_dict(),
            "concurrent_head": concurrent_head.as_dict(),
        },
        dtype=engine.dtype,
        kernel=None if args.base_model or not settings.enable_lora else lora_kernel(),
        settings={
            "args": {k: str(v) for k, v in vars(args).items() if k != "output"},
            "engine": engine_settings(settings),
        },
        output=args.output,
    )


def _head(path: Path, rows: int) -> Path:
    lines = [line for line in path.read_text().splitlines() if line.strip()][:rows]
    target = Path(tempfile.mkdtemp()) / f"head{rows}.jsonl"
    target.write_text("\n".join(lines) + "\n")
    return target


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
