"""Run a batch: prepare (validate, pin, resume), generate every pending row × arm, finalize, summarize.

The local runner shares ONE engine between all arms: it streams the input and keeps up to ``concurrency``
row × arm requests in flight (vLLM batches them continuously, adapters mixed), ranks finished requests in
groups, and appends every record to the progress file as it finishes. :mod:`creative.batch.ray_runner`
replaces only the middle step.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from creative.adapters import AdapterRegistry
from creative.batch.arms import check_recorded_adapters, file_sha256, load_arms, resolve_arms
from creative.batch.io import count_rows, file_format, read_records, read_rows
from creative.batch.journal import (
    RETRYABLE_CODES,
    Fingerprint,
    Key,
    ResumeError,
    RunJournal,
    now_iso,
    output_fingerprint,
)
from creative.batch.work import BatchPlan, RankStats, UnitProcessor
from creative.files import refuse_overwrite
from creative.settings import Settings
from prompts.refs import TemplateSource

if TYPE_CHECKING:
    from ranking.settings import RankingSettings

logger = logging.getLogger(__name__)


@dataclass
class BatchJob:
    """Everything a runner needs: where to read and write, the pinned plan and what is already done."""

    input_path: Path
    arms_path: Path
    output_path: Path
    plan: BatchPlan
    journal: RunJournal
    manifest: dict[str, Any]
    rows: int
    done: set[Key] = field(default_factory=set)
    complete: bool = False

    @property
    def units_total(self) -> int:
        """Row × arm records the output will hold."""
        return self.rows * len(self.plan.arms)

    def pending(self) -> Iterator[tuple[int, str, list[int]]]:
        """(row, JSON text, indexes of the arms still to do) for every row with work left, streamed."""
        for item in read_rows(self.input_path):
            todo = [i for i, arm in enumerate(self.plan.arms) if (item.row, arm.name) not in self.done]
            if todo:
                yield item.row, item.text, todo


def fingerprint(path: Path) -> Fingerprint:
    """Size and SHA-256 of the input file."""
    return Fingerprint(path.stat().st_size, file_sha256(path))


def prepare_job(
    input_path: Path,
    arms_path: Path,
    output_path: Path,
    settings: Settings,
    templates: Callable[[], TemplateSource],
    adapters: AdapterRegistry,
    *,
    restart: bool = False,
    rank: bool = True,
) -> BatchJob:
    """Validate everything before any work, then start a new run or pick up the recorded one.

    Raises :class:`~creative.batch.arms.ArmsFileError`, :class:`~creative.batch.io.InputFormatError`,
    :class:`ResumeError`, :class:`~creative.files.SameFileError` (an output that would write over an input)
    or ``FileNotFoundError`` with a message for the user.
    """
    for path, what in ((input_path, "input"), (arms_path, "arms")):
        if not path.is_file():
            raise FileNotFoundError(f"{what} file {path} not found")
    file_format(input_path)
    file_format(output_path)
    journal = RunJournal(output_path)
    refuse_overwrite(
        [("--output", output_path)]
        + [(f"the run's {what} file", path) for what, path in journal.side_files().items()],
        [("--input", input_path), ("--arms", arms_path)],
    )
    arms = load_arms(arms_path)
    input_fp, arms_sha = fingerprint(input_path), file_sha256(arms_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    journal.acquire()  # held until the process exits: two runs never append to one progress file
    try:
        if restart:
            journal.reset()
        manifest = journal.read_manifest()
        if manifest is None:
            if journal.partial_path.exists():
                raise ResumeError(
                    f"{journal.partial_path} exists without its manifest {journal.manifest_path.name}; "
                    "rerun with --restart to start over"
                )
            plan = BatchPlan(resolve_arms(arms, templates(), adapters, settings))
            manifest = {
                "status": "running",
                "created": now_iso(),
                "input": {
                    "path": str(input_path.resolve()),
                    **input_fp.as_dict(),
                    "rows": count_rows(input_path),
                },
                "arms_file": {"path": str(arms_path.resolve()), "sha256": arms_sha},
                "arms": plan.to_json(),
                "output": str(output_path.resolve()),
                "model": settings.resolved_model_path.name,
                "ranked": rank,
            }
            journal.write_manifest(manifest)
        else:
            journal.check_same_run(manifest, input_fp, arms_sha)
            _check_same_flags(manifest, output_path, settings, rank)
            plan = BatchPlan.from_json(manifest["arms"])  # the versions pinned when the run started
            check_recorded_adapters(plan.arms, adapters)
        job = BatchJob(
            input_path, arms_path, output_path, plan, journal, manifest, int(manifest["input"]["rows"])
        )
        _pick_up(job)
    except BaseException:
        journal.release()  # a refused or failed preparation leaves the output to the next run
        raise
    return job


def _check_same_flags(manifest: dict[str, Any], output_path: Path, settings: Settings, rank: bool) -> None:
    """Refuse to resume a run started ranked and resumed unranked (or back), or started with another model."""
    if manifest.get("ranked", rank) != rank:
        was = "ranked" if manifest["ranked"] else "unranked (--no-rank)"
        raise ResumeError(
            f"cannot resume {output_path}: it was started {was}; one output never mixes ranked and "
            "unranked records. Rerun with the same flags, or with --restart."
        )
    model = settings.resolved_model_path.name
    if manifest.get("model") not in (None, model):
        raise ResumeError(
            f"cannot resume {output_path}: it was started with model {manifest['model']!r}, not "
            f"{model!r}; one output never mixes models. Rerun with --restart, or with the same model."
        )


def _pick_up(job: BatchJob) -> None:
    """A completed run whose output is the file it wrote has nothing to do (a missing or changed output is
    refused); an unfinished one learns what is done from its progress file."""
    job.complete = job.manifest.get("status") == "complete"
    if not job.complete:
        job.done = job.journal.recover()
        return
    problem = job.journal.output_problem(job.manifest)
    if problem is not None:
        raise ResumeError(
            f"the run completed, but {problem}. Rerun with --restart to write it again, or write to "
            "another --output."
        )
    job.journal.discard_progress()  # left behind by a crash right after completion


@dataclass
class RunTimes:
    """What this invocation did (a resumed run counts only its own work)."""

    units_run: int = 0
    seconds: float = 0.0
    engine_start_s: float | None = None
    rank: RankStats | None = None
    runner: str = "local"


def summarize(job: BatchJob, times: RunTimes) -> dict[str, Any]:
    """Figures over the final output (every record, resumed or not) plus this invocation's timing."""
    rows: set[int] = set()
    error_rows: set[int] = set()
    errors = candidates = first_try = returned = completion_tokens = records = 0
    codes: collections.Counter[str] = collections.Counter()
    for record in read_records(job.output_path):
        records += 1
        rows.add(record["row"])
        if "error" in record:
            errors += 1
            error_rows.add(record["row"])
            codes[record["error"].get("code") or "error"] += 1
            continue
        stats = record["stats"]
        candidates += stats["returned"] + stats["rejected"]
        first_try += stats["valid_first_try"]
        returned += stats["returned"]
        completion_tokens += record["usage"]["completion_tokens"]
    arms = max(len(job.plan.arms), 1)
    seconds = max(times.seconds, 1e-9)
    summary: dict[str, Any] = {
        "runner": times.runner,
        "rows": len(rows),
        "arms": len(job.plan.arms),
        "records": records,
        "errors": errors,
        "retryable_errors": sum(codes[code] for code in RETRYABLE_CODES),
        "error_rows": len(error_rows),
        "error_codes": dict(codes),
        "candidates": candidates,
        "valid_first_try_rate": round(first_try / candidates, 4) if candidates else None,
        "valid_after_repair_rate": round(returned / candidates, 4) if candidates else None,
        "completion_tokens": completion_tokens,
        "resumed_records": records - times.units_run,
        "records_this_run": times.units_run,
        "seconds": round(times.seconds, 3),
        "engine_start_s": None if times.engine_start_s is None else round(times.engine_start_s, 2),
        "row_arms_per_s": round(times.units_run / seconds, 3),
        "rows_per_s": round(times.units_run / arms / seconds, 3),
    }
    if times.rank is not None and times.rank.calls:
        summary["rank_calls"] = times.rank.calls
        summary["rank_mean_group"] = round(times.rank.items / times.rank.calls, 2)
        summary["rank_seconds"] = round(times.rank.seconds, 3)
    return summary


def finish(job: BatchJob, times: RunTimes) -> dict[str, Any]:
    """Write the final output, record it (size, SHA-256) and the summary in the manifest; return the summary.

    With transient failures among the records the run is ``incomplete``: the output holds their error
    records, the progress file stays, and the same command run again retries them."""
    job.journal.finalize(job.plan.names)
    summary = summarize(job, times)
    complete = summary["retryable_errors"] == 0
    job.manifest.update(
        {
            "status": "complete" if complete else "incomplete",
            "finished": now_iso(),
            "output_file": output_fingerprint(job.output_path).as_dict(),
            "summary": summary,
        }
    )
    job.journal.write_manifest(job.manifest)
    if complete:
        job.journal.discard_progress()
    job.complete = complete
    job.journal.release()
    return summary


def progress_bar(job: BatchJob, enabled: bool) -> tqdm[Any]:
    """A row × arm progress bar on stderr (rate and ETA), starting at the resumed count."""
    return tqdm(
        total=job.units_total,
        initial=len(job.done),
        unit=" row×arm",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )


async def run_units(job: BatchJob, processor: UnitProcessor, concurrency: int, progress: bool = True) -> int:
    """Generate every pending row × arm with up to ``concurrency`` in flight; append each record as it
    finishes. Returns how many records this call wrote."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    written = 0
    in_flight: set[asyncio.Task[dict[str, Any]]] = set()
    bar = progress_bar(job, progress)
    errors = 0

    async def drain() -> None:
        nonlocal written, errors
        finished, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            in_flight.discard(task)
            record = task.result()  # BatchAbortedError stops the run here
            job.journal.append(record)
            written += 1
            errors += "error" in record
            bar.update(1)
            bar.set_postfix(errors=errors, refresh=False)

    job.journal.open()
    try:
        for row, text, todo in job.pending():
            for index in todo:
                while len(in_flight) >= concurrency:
                    await drain()
                in_flight.add(asyncio.create_task(processor.process(row, text, job.plan.arms[index])))
        while in_flight:
            await drain()
    finally:
        for task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
        job.journal.close()
        bar.close()
    return written


def run_local(
    job: BatchJob,
    settings: Settings,
    templates: TemplateSource,
    adapters: AdapterRegistry,
    concurrency: int,
    *,
    ranking: RankingSettings | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Start one engine (and the ranker ``ranking`` describes; None: no ranking), run every pending
    row × arm, finalize; returns the summary."""
    from creative.batch.work import RankBatcher
    from creative.pipeline import open_pipeline

    times = RunTimes()
    batcher = None
    if ranking is not None:
        from ranking.rank import Ranker  # entry-point composition: the core never imports ranking

        print("loading the ranker…", file=sys.stderr, flush=True)
        batcher = RankBatcher(Ranker.from_settings(ranking))
    pipeline, engine = open_pipeline(settings, templates, adapters, batcher)
    times.engine_start_s = engine.started_in
    processor = UnitProcessor(pipeline.writer, batcher)

    async def run() -> int:
        try:
            return await run_units(job, processor, concurrency, progress)
        finally:
            if batcher is not None:
                await batcher.close()

    started = time.perf_counter()
    try:
        times.units_run = asyncio.run(run())  # the one event loop this engine ever sees
    finally:
        engine.shutdown()
    times.seconds = time.perf_counter() - started
    times.rank = batcher.stats if batcher is not None else None
    return finish(job, times)
