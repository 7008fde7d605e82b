"""The ``batch`` and ``report`` subcommands (argument parsing lives in :mod:`creative.cli`)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creative.batch.arms import ArmsFileError
from creative.batch.io import InputFormatError
from creative.batch.journal import ResumeError, RunJournal
from creative.batch.runner import BatchJob, prepare_job, run_local
from creative.batch.work import BatchAbortedError
from creative.files import SameFileError
from prompts.refs import TemplateSource

if TYPE_CHECKING:  # imported where they run: the CLI's --help must not load ranking or vLLM
    from creative.adapters import AdapterRegistry
    from creative.app_settings import AppSettings


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_batch_command(args: argparse.Namespace) -> int:
    """``python -m creative batch``: validate, run (locally or on Ray), finalize, print the summary."""
    from creative.adapters import registry_from_settings
    from creative.app_settings import AppSettings  # entry point: the only place it reads ranking settings
    from prompts.sources import template_source_from_settings

    app_settings = AppSettings()  # read once: generation, ranking and registry settings
    settings = app_settings.generation

    @functools.cache
    def templates() -> TemplateSource:  # opened (and migrated) once, when first needed
        return template_source_from_settings(app_settings.registry)

    concurrency = args.concurrency or settings.max_num_seqs
    if concurrency < 1:
        return _error("--concurrency must be at least 1")
    adapters = registry_from_settings(settings)
    try:
        job = prepare_job(
            args.input,
            args.arms,
            args.output,
            settings,
            templates,
            adapters,
            restart=args.restart,
            rank=not args.no_rank,
        )
    except ArmsFileError as exc:
        return _error(f"invalid arms file; nothing was run.\n{exc}")
    except (InputFormatError, ResumeError, FileNotFoundError, SameFileError) as exc:
        return _error(str(exc))
    if job.complete:
        print(
            f"{args.output} is already complete (see {job.journal.manifest_path.name}); "
            "use --restart to run it again",
            file=sys.stderr,
        )
        print(json.dumps({"summary": job.manifest.get("summary")}), file=sys.stderr)
        return 0
    pending = job.units_total - len(job.done)
    print(
        f"{job.rows} rows × {len(job.plan.arms)} arms = {job.units_total} records; "
        f"{len(job.done)} already done, {pending} to run",
        file=sys.stderr,
        flush=True,
    )
    try:
        summary = _execute(args, job, app_settings, templates, adapters, concurrency)
    except BatchAbortedError as exc:
        print(f"error: the batch stopped: {exc}; finished records are kept, rerun to resume", file=sys.stderr)
        return 1
    print(json.dumps({"summary": summary}), file=sys.stderr)
    if summary.get("retryable_errors"):
        print(
            f"warning: {summary['retryable_errors']} row × arm records failed with a transient error (code "
            f"internal); {args.output} holds their error records. Run the same command again to retry them.",
            file=sys.stderr,
        )
        return 1
    return 0


def _execute(
    args: argparse.Namespace,
    job: BatchJob,
    app_settings: AppSettings,
    templates: Callable[[], TemplateSource],
    adapters: AdapterRegistry,
    concurrency: int,
) -> dict[str, Any]:
    """Run the prepared job on the runner the arguments name; its summary."""
    settings = app_settings.generation
    if args.runner == "ray":
        from creative.batch.ray_runner import RayOptions, run_ray

        options = RayOptions(
            address=args.ray_address,
            workers=args.ray_workers,
            batch_size=args.ray_batch_size,
            num_gpus=args.ray_num_gpus,
            num_cpus=args.ray_num_cpus,
            concurrency=concurrency,
            rank=not args.no_rank,
            env=tuple(args.ray_env or ()),
        )
        return run_ray(job, settings, options, progress=not args.quiet)
    return run_local(
        job,
        settings,
        templates(),
        adapters,
        concurrency,
        ranking=None if args.no_rank else app_settings.ranking,
        progress=not args.quiet,
    )


def _template_text_lookup() -> Any:
    from prompts.sources import template_source_from_settings

    source = template_source_from_settings()
    cache: dict[str, str | None] = {}

    def text(ref: str) -> str | None:
        if ref not in cache:
            try:
                template = source.resolve(ref)
                cache[ref] = f"{template.system}\n{template.user}"
            except Exception:  # an unreachable registry only costs the novelty figure
                cache[ref] = None
        return cache[ref]

    return text


def run_report_command(args: argparse.Namespace) -> int:
    """``python -m creative report``: per-arm figures side by side, and a chart."""
    from creative.batch.report import build_report, format_table, write_chart

    if not args.output.is_file():
        return _error(f"batch output {args.output} not found")
    input_path: Path | None = args.input
    journal = RunJournal(args.output)
    manifest = journal.read_manifest() or {}
    problem = journal.output_problem(manifest) if manifest.get("status") == "complete" else None
    if problem is not None:
        print(
            f"warning: {problem}: it differs from the output the batch wrote; the figures are for the file "
            "as it is now",
            file=sys.stderr,
        )
    if input_path is None:
        recorded = manifest.get("input", {}).get("path")
        input_path = Path(recorded) if recorded else None
    if input_path is None or not input_path.is_file():
        print(
            f"warning: input rows {input_path or '(not recorded)'} not found: personalization needs them; "
            "pass --input",
            file=sys.stderr,
        )
        input_path = None
    embed = None
    if not args.no_embed:
        from ranking.embedder import Embedder  # entry-point composition: load ranking only here
        from ranking.settings import RankingSettings

        embed = Embedder.from_settings(RankingSettings()).embed
    try:
        report = build_report(
            args.output, input_path=input_path, embed=embed, template_text=_template_text_lookup()
        )
    except InputFormatError as exc:
        return _error(str(exc))
    chart = write_chart(report, args.chart or args.output.with_name(args.output.name + ".png"))
    if args.json:
        print(json.dumps({**report, "chart": str(chart)}, indent=2))
    else:
        print(format_table(report))
        print(f"\nchart: {chart}")
    return 0
