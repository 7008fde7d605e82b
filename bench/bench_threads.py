"""Threads and preloads on the CPU: vLLM's default OpenMP binding vs every usable core, and the tcmalloc /
Intel OpenMP preloads vLLM warns about, each in a fresh subprocess (a preload only works at exec).

Every arm starts the base model (LoRA off, the project's dtype for this CPU) and sends ``--requests``
greedy plain-text requests at once with a fixed ``max_tokens`` (a warm-up first, best of ``--passes``),
then one request alone. Arms:

* ``auto``: ``VLLM_CPU_OMP_THREADS_BIND=auto`` (vLLM's default: keeps a core back for its front end);
* ``all_cores``: every CPU in the affinity mask (what the engine sets; the shipped default);
* ``all_cores_iomp``: plus ``LD_PRELOAD`` of Intel OpenMP (``libiomp5.so``, from the ``intel-openmp``
  wheel torch brings) and spawned engine processes, so the preload reaches them;
* ``all_cores_tcmalloc_iomp``: plus tcmalloc (Debian's ``libtcmalloc-minimal4``), when installed.

Goal (issue 13): every core ÷ vLLM's default binding, 16 concurrent, kept (1.5x seen on AVX2).

    .venv/bin/python bench/bench_threads.py [--requests 16] [--max-tokens 48] [--passes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from common import Figure, engine_settings, ratio, write_result

from core.hardware import omp_cpu_binding, resolve_dtype
from creative.engine import SamplingSpec, VllmEngine
from creative.settings import Settings

PROMPT = "Write a one-line ad for a waterproof trail running shoe, number {i}."
TCMALLOC = [
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4",
]


def settings() -> Settings:
    """The base model, no LoRA: only threads and allocators differ between arms."""
    return Settings(enable_lora=False, max_num_seqs=32, kv_cache_bytes=128 << 20)


def first_existing(patterns: list[str]) -> str | None:
    """The first existing file among glob ``patterns``."""
    for pattern in patterns:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def arms() -> dict[str, dict[str, str]]:
    """Environment of each arm (only arms whose libraries exist)."""
    iomp = first_existing([str(Path(sysconfig.get_paths()["data"]) / "lib" / "libiomp5.so")])
    tcmalloc = first_existing(TCMALLOC)
    every_core = {"VLLM_CPU_OMP_THREADS_BIND": omp_cpu_binding()}
    spawn = {"VLLM_WORKER_MULTIPROC_METHOD": "spawn"}
    result = {"auto": {"VLLM_CPU_OMP_THREADS_BIND": "auto"}, "all_cores": every_core}
    if iomp:
        result["all_cores_iomp"] = {**every_core, "LD_PRELOAD": iomp, **spawn}
    if iomp and tcmalloc:
        result["all_cores_tcmalloc_iomp"] = {**every_core, "LD_PRELOAD": f"{tcmalloc}:{iomp}", **spawn}
    return result


async def run_pass(engine: VllmEngine, requests: int, max_tokens: int, tag: str) -> dict[str, float]:
    """``requests`` greedy requests at once; output tokens/s."""

    async def one(i: int) -> int:
        spec = SamplingSpec(n=1, seed=i, temperature=0.0, top_p=1.0, max_tokens=max_tokens, ignore_eos=True)
        prompt = engine.encode_chat([{"role": "user", "content": PROMPT.format(i=i)}])
        return (await engine.generate(prompt, spec, f"threads-{tag}-{i}")).completions[0].output_tokens

    started = time.perf_counter()
    tokens = sum(await asyncio.gather(*(one(i) for i in range(requests))))
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "output_tokens": tokens, "tokens_per_s": round(tokens / seconds, 1)}


def child(args: argparse.Namespace) -> None:
    """One arm: start the engine, measure, print one JSON line."""
    engine = VllmEngine.start(settings())

    async def measure() -> dict[str, Any]:
        await run_pass(engine, 2, 4, "warm-up")
        best: dict[str, dict[str, float]] = {}
        for attempt in range(args.passes):
            for name, requests in (("concurrent", args.requests), ("one_request", 1)):
                current = await run_pass(engine, requests, args.max_tokens, f"{name}-{attempt}")
                if name not in best or current["tokens_per_s"] > best[name]["tokens_per_s"]:
                    best[name] = current
        return best

    try:
        result = asyncio.run(measure())
    finally:
        engine.shutdown()
    print("RESULT " + json.dumps({**result, "start_s": round(engine.started_in, 2)}), flush=True)


def run_arm(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter with ``env`` added; its parsed result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", f"--requests={args.requests}"]
    command += [f"--max-tokens={args.max_tokens}", f"--passes={args.passes}"]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"arm {env} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {"env": env, **json.loads(lines[-1].removeprefix("RESULT "))}


def figures(results: dict[str, dict[str, Any]]) -> list[Figure]:
    """Every core vs vLLM's default binding, and each preload vs none."""

    def tps(arm: str, kind: str) -> float:
        return float(results[arm][kind]["tokens_per_s"]) if arm in results else 0.0

    found = [
        Figure(
            "every core ÷ vLLM auto binding, base, concurrent",
            ratio(tps("all_cores", "concurrent"), tps("auto", "concurrent")),
            goal=">= 1.0",
        ),
        Figure(
            "every core ÷ vLLM auto binding, base, one request",
            ratio(tps("all_cores", "one_request"), tps("auto", "one_request")),
        ),
    ]
    for arm in ("all_cores_iomp", "all_cores_tcmalloc_iomp"):
        if arm in results:
            value = ratio(tps(arm, "concurrent"), tps("all_cores", "concurrent"))
            found.append(Figure(f"{arm} ÷ every core, concurrent", value))
    return found


def main() -> None:
    """Run every arm side by side and write ``bench/results/threads.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    results = {}
    for name, env in arms().items():
        print(f"==> {name}", file=sys.stderr, flush=True)
        results[name] = run_arm(env, args)
    base = settings()
    write_result(
        "threads",
        figures(results),
        {"requests": args.requests, "max_tokens": args.max_tokens, "arms": results},
        dtype=resolve_dtype(base.dtype, "cpu"),
        kernel=None,
        settings=engine_settings(base),
        output=args.output,
    )


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
