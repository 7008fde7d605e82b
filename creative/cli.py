"""``python -m creative``: ``generate`` (one record per row), ``batch`` (rows × arms) and ``report``.

``generate``: each row is written (``n`` candidates) and ranked down to its ``k`` best, in input order;
``--no-rank`` keeps every candidate in generation order. ``batch`` runs every row through every arm of an
arms file, resumably (see :mod:`creative.batch`); ``report`` compares the arms of a batch output.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from creative.files import SameFileError, refuse_overwrite, replace_durably
from creative.rows import RowHandler, decode_line, run_row

logger = logging.getLogger("creative.cli")


@dataclass
class RunSummary:
    """What a generate run did, printed at the end and returned for benchmarks."""

    rows: int = 0
    errors: int = 0
    variants: int = 0
    valid_first_try: int = 0
    candidates: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    generate_seconds: float = 0.0
    rank_seconds: float = 0.0
    error_codes: collections.Counter[str] = field(default_factory=collections.Counter)

    def add(self, record: dict[str, Any]) -> None:
        """Count one output record."""
        self.rows += 1
        if "error" in record:
            self.errors += 1
            self.error_codes[record["error"].get("code") or "error"] += 1
            return
        stats = record["stats"]
        self.variants += stats["returned"]
        self.valid_first_try += stats["valid_first_try"]
        self.candidates += stats["returned"] + stats["rejected"]
        self.output_tokens += record["usage"]["completion_tokens"]
        self.generate_seconds += record["timings"].get("generate_s", 0.0)
        self.rank_seconds += record["timings"].get("rank_s", 0.0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly figures, with rates."""
        secs = max(self.seconds, 1e-9)
        return {
            "rows": self.rows,
            "errors": self.errors,
            "error_codes": dict(self.error_codes),
            "variants": self.variants,
            "candidates": self.candidates,
            "valid_first_try_rate": round(self.valid_first_try / self.candidates, 4)
            if self.candidates
            else None,
            "seconds": round(self.seconds, 3),
            "variants_per_s": round(self.variants / secs, 3),
            "output_tokens_per_s": round(self.output_tokens / secs, 1),
            "rank_share_of_request_time": round(
                self.rank_seconds / (self.generate_seconds + self.rank_seconds), 4
            )
            if self.rank_seconds
            else None,
        }


def _rows(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines, numbered; a line that is not UTF-8 comes as a marker that becomes an error record."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield number, decode_line(raw)


def count_rows(path: Path) -> int:
    """Non-blank lines in ``path`` (for the progress bar)."""
    return sum(1 for _ in _rows(path))


async def generate_file(
    input_path: Path,
    output_path: Path,
    handler: RowHandler,
    concurrency: int,
    progress: bool = True,
) -> RunSummary:
    """Run every row through ``handler`` with bounded concurrency; write records in input order.

    The output is written to ``<output>.partial``, fsynced and renamed when complete (then the folder is
    fsynced), so a crash never leaves a file that looks finished.
    """
    summary = RunSummary()
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(concurrency)
    window: collections.deque[asyncio.Task[dict[str, Any]]] = collections.deque()
    partial = output_path.with_name(output_path.name + ".partial")
    run_id = f"{os.getpid()}-{int(time.time())}"

    async def guarded(row: int, line: str) -> dict[str, Any]:
        async with semaphore:
            return await run_row(row, line, handler, f"{run_id}-row{row}")

    bar = tqdm(
        total=count_rows(input_path), unit="row", file=sys.stderr, disable=not progress, dynamic_ncols=True
    )
    try:
        with partial.open("w", encoding="utf-8") as out:

            async def flush_head() -> None:
                record = await window.popleft()
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                summary.add(record)
                bar.update(1)
                bar.set_postfix(errors=summary.errors, variants=summary.variants, refresh=False)

            for row, line in _rows(input_path):
                window.append(asyncio.create_task(guarded(row, line)))
                while window and (len(window) > 2 * concurrency or window[0].done()):
                    await flush_head()
            while window:
                await flush_head()
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        for task in window:
            task.cancel()
        raise
    finally:
        bar.close()
    replace_durably(partial, output_path)
    summary.seconds = time.perf_counter() - started
    return summary


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m creative", description="Write personalized ad copy.")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate copy for each row of a JSONL file")
    gen.add_argument("--input", type=Path, required=True, help="JSONL, one request per line")
    gen.add_argument("--output", type=Path, required=True, help="JSONL, one record per input row")
    gen.add_argument("--concurrency", type=int, default=None, help="rows in flight (default: setting)")
    gen.add_argument(
        "--no-rank", action="store_true", help="return every candidate in generation order, unranked"
    )
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_batch_parsers(sub)
    return parser.parse_args(argv)


def _add_batch_parsers(sub: Any) -> None:
    batch = sub.add_parser("batch", help="run every row through every arm of an arms file (resumable)")
    batch.add_argument("--input", type=Path, required=True, help="rows: .jsonl or .parquet")
    batch.add_argument("--arms", type=Path, required=True, help="arms file (YAML)")
    batch.add_argument("--output", type=Path, required=True, help="records: .jsonl or .parquet")
    batch.add_argument("--runner", choices=["local", "ray"], default="local")
    batch.add_argument(
        "--concurrency", type=int, default=None, help="row × arm requests in flight (default: max_num_seqs)"
    )
    batch.add_argument("--restart", action="store_true", help="discard earlier progress and start over")
    batch.add_argument("--no-rank", action="store_true", help="keep every candidate, unranked")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    batch.add_argument(
        "--ray-address", default=None, help="Ray cluster address (default: RAY_ADDRESS or local)"
    )
    batch.add_argument("--ray-workers", type=int, default=1, help="engine actors (one engine each)")
    batch.add_argument("--ray-batch-size", type=int, default=16, help="rows per actor call")
    batch.add_argument("--ray-num-gpus", type=float, default=0.0, help="GPUs per actor (0 on CPU)")
    batch.add_argument("--ray-num-cpus", type=float, default=1.0, help="CPUs per actor")
    batch.add_argument(
        "--ray-env",
        action="append",
        metavar="NAME",
        help="forward this environment variable to the workers too (repeatable; settings are forwarded)",
    )
    report = sub.add_parser("report", help="per-arm scorecard of a batch output, and a chart")
    report.add_argument("output", type=Path, help="a batch output (.jsonl or .parquet)")
    report.add_argument(
        "--chart", type=Path, default=None, help="chart path (.png or .html; default: <output>.png)"
    )
    report.add_argument(
        "--input", type=Path, default=None, help="the batch's input rows (default: from the run manifest)"
    )
    report.add_argument("--json", action="store_true", help="print the figures as JSON")
    report.add_argument("--no-embed", action="store_true", help="skip the embedding figures")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m creative``."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.command == "batch":
        from creative.batch.cli import run_batch_command

        return run_batch_command(args)
    if args.command == "report":
        from creative.batch.cli import run_report_command

        return run_report_command(args)
    if not args.input.is_file():
        print(f"error: input file {args.input} not found", file=sys.stderr)
        return 2
    try:
        partial = args.output.with_name(args.output.name + ".partial")
        outputs = [("--output", args.output), ("the temporary output", partial)]
        refuse_overwrite(outputs, [("--input", args.input)])
    except SameFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from creative.app_settings import AppSettings  # entry point: the only place it reads ranking settings

    app_settings = AppSettings()  # read once: generation, ranking and registry settings
    settings = app_settings.generation
    concurrency = args.concurrency or settings.max_concurrent_requests
    if concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2

    from creative.pipeline import VariantRanker, open_pipeline
    from prompts.sources import template_source_from_settings

    ranker: VariantRanker | None = None
    if not args.no_rank:
        # The CLI is a composition root, like the API's app factory: only entry points load ``ranking``.
        from ranking.rank import Ranker

        print("loading the ranker…", file=sys.stderr, flush=True)
        ranker = Ranker.from_settings(app_settings.ranking)
    templates = template_source_from_settings(app_settings.registry)
    pipeline, engine = open_pipeline(settings, templates, ranker=ranker)
    try:
        summary = asyncio.run(
            generate_file(args.input, args.output, pipeline.run, concurrency, progress=not args.quiet)
        )
    finally:
        engine.shutdown()
    print(json.dumps({"summary": summary.as_dict()}), file=sys.stderr)
    return 0
