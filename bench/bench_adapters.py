"""LoRA cost on the engine: the house adapter vs the base model, 4 adapters mixed vs one, grouped vs stock.

One engine per LoRA kernel, each in its own subprocess so ``ADCREATIVE_LORA_KERNEL`` is set before vLLM
starts: ``grouped`` (the project's plugin, as shipped) and ``stock`` (vLLM's own CPU LoRA ops). On each,
the same greedy plain-text requests with a fixed ``max_tokens``: all ``--requests`` at once on the base
model (``adapter=None``) and on ``house``; one request alone on each; and (grouped only) the requests
spread round-robin over 4 adapters (house, playful, premium and a copy of house in its own slot: the
same work as a distinct adapter). A warm-up first, then the best of ``--passes`` (arms interleaved).
Goals (issue 13): house ÷ base >= 0.9 at 16 concurrent and >= 0.8 alone; 4 mixed ÷ one >= 0.9.

    .venv/bin/python bench/bench_adapters.py [--requests 16] [--max-tokens 48] [--passes 2] [--no-stock]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Figure, engine_settings, ratio, run_settings, write_result

from creative.adapters import SHIPPED_ADAPTERS_DIR, Adapter, registry_from_settings
from creative.engine import SamplingSpec, VllmEngine
from creative.settings import Settings
from grouped_lora import KERNEL_ENV

PROMPTS = [
    "Write a one-line ad for a waterproof trail running shoe.",
    "Write a one-line ad for an electric kettle with temperature control.",
    "Write a one-line ad for a cooling memory foam pillow.",
    "Write a one-line ad for a foldable travel backpack.",
]
SHIPPED = ("house", "playful", "premium")


async def run_pass(
    engine: VllmEngine, arms: list[Adapter | None], requests: int, max_tokens: int, tag: str
) -> dict[str, float]:
    """``requests`` at once, request i on ``arms[i % len(arms)]``; output tokens/s."""

    async def one(i: int) -> int:
        spec = SamplingSpec(
            n=1,
            seed=i,
            temperature=0.0,
            top_p=1.0,
            max_tokens=max_tokens,
            ignore_eos=True,
            adapter=arms[i % len(arms)],
        )
        messages = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
        out = await engine.generate(engine.encode_chat(messages), spec, f"bench-{tag}-{i}")
        return out.completions[0].output_tokens

    started = time.perf_counter()
    tokens = sum(await asyncio.gather(*(one(i) for i in range(requests))))
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "output_tokens": tokens, "tokens_per_s": round(tokens / seconds, 1)}


async def measure(
    engine: VllmEngine, adapters: list[Adapter], args: argparse.Namespace, mixed: bool
) -> dict[str, dict[str, float]]:
    """Warm-up (loads every adapter), then every arm ``--passes`` times, interleaved; the best of each."""
    house = adapters[0]
    await run_pass(engine, [*adapters, None], len(adapters) + 1, 4, "warm-up")
    arms: dict[str, tuple[list[Adapter | None], int]] = {
        "base_concurrent": ([None], args.requests),
        "house_concurrent": ([house], args.requests),
        "base_one_request": ([None], 1),
        "house_one_request": ([house], 1),
    }
    if mixed:
        arms["four_adapters_mixed_concurrent"] = (list(adapters), args.requests)
    best: dict[str, dict[str, float]] = {}
    for attempt in range(args.passes):
        for name, (chosen, requests) in arms.items():
            current = await run_pass(engine, chosen, requests, args.max_tokens, f"{name}-{attempt}")
            if name not in best or current["tokens_per_s"] > best[name]["tokens_per_s"]:
                best[name] = current
    return best


def run_child(args: argparse.Namespace) -> None:
    """One engine with the kernel the environment names; writes its measurements to ``--child-output``."""
    from grouped_lora import requested_kernel

    kernel = requested_kernel()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "house_copy"
        settings = Settings(max_loras=4, max_lora_rank=16, adapter_roots=[Path(tmp)])
        shutil.copytree(SHIPPED_ADAPTERS_DIR / "house", copy)
        registry = registry_from_settings(settings)
        adapters = [registry.resolve(name) for name in SHIPPED]
        adapters.append(registry.register("house_copy", copy))
        engine = VllmEngine.start(settings)
        try:
            found = [a for a in adapters if a is not None]
            results = asyncio.run(measure(engine, found, args, mixed=kernel == "grouped"))
        finally:
            engine.shutdown()
    summary = {"kernel": kernel, "dtype": engine.dtype, "settings": engine_settings(settings), **results}
    Path(args.child_output).write_text(json.dumps(summary))


def spawn(kernel: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """This script as a child with ``ADCREATIVE_LORA_KERNEL=kernel`` (clean environment for vLLM)."""
    output = workdir / f"{kernel}.json"
    command = [sys.executable, __file__, "--child-output", str(output)]
    command += ["--requests", str(args.requests), "--max-tokens", str(args.max_tokens)]
    command += ["--passes", str(args.passes)]
    completed = subprocess.run(command, env={**os.environ, KERNEL_ENV: kernel}, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"the {kernel} arm failed (exit {completed.returncode})")
    return dict(json.loads(output.read_text()))


def figures(grouped: dict[str, Any], stock: dict[str, Any] | None, requests: int) -> list[Figure]:
    """The headline ratios (and the tok/s they come from)."""

    def tps(arm: dict[str, Any], name: str) -> float:
        return float(arm[name]["tokens_per_s"])

    many = f"{requests} concurrent"

    def house_vs_base(
        arm: dict[str, Any], suffix: str, goals: tuple[str, str], **kernel: str
    ) -> list[Figure]:
        """house ÷ base at ``requests`` concurrent and for one request, on one kernel's arm."""
        return [
            Figure(
                f"house ÷ base tok/s, {label}{suffix}",
                ratio(tps(arm, f"house_{key}"), tps(arm, f"base_{key}")),
                goal=goal,
                **kernel,
            )
            for label, key, goal in zip(
                (many, "one request"), ("concurrent", "one_request"), goals, strict=True
            )
        ]

    found = [
        *house_vs_base(grouped, "", (">= 0.9", ">= 0.8")),
        Figure(
            f"4 mixed adapters ÷ one adapter tok/s, {many}",
            ratio(tps(grouped, "four_adapters_mixed_concurrent"), tps(grouped, "house_concurrent")),
            goal=">= 0.9",
        ),
        Figure(f"house tok/s, {many}", tps(grouped, "house_concurrent"), "tok/s"),
        Figure(f"base tok/s, {many}", tps(grouped, "base_concurrent"), "tok/s"),
    ]
    if stock is not None:
        found += [
            Figure(
                f"house tok/s grouped ÷ stock kernel, {many}",
                ratio(tps(grouped, "house_concurrent"), tps(stock, "house_concurrent")),
                lora_kernel="grouped vs stock",
            ),
            *house_vs_base(stock, ", stock kernel", ("", ""), lora_kernel="stock"),
        ]
    return found


def main() -> None:
    """Run the grouped (and stock) arm in subprocesses and write ``bench/results/adapters.json``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=16, help="concurrent requests per pass")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--no-stock", action="store_true", help="skip the stock-kernel arm")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_output:
        run_child(args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        grouped = spawn("grouped", args, Path(tmp))
        stock = None if args.no_stock else spawn("stock", args, Path(tmp))
    write_result(
        "adapters",
        figures(grouped, stock, args.requests),
        {"grouped": grouped, "stock": stock},
        dtype=grouped["dtype"],
        kernel="grouped",
        settings=run_settings(args, grouped["settings"]),
        output=args.output,
    )


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
