"""vLLM vs Hugging Face ``generate`` on the same model, prompts and greedy settings: output tok/s ratio.

Both sides get the same chat-templated token ids (``creative.chat``), greedy decoding and the same
``max_tokens``, all prompts in one batch: Hugging Face as one left-padded ``generate`` call in the dtype
the engine resolves for this CPU, on as many torch threads as cores are usable (``--hf-threads``); vLLM
as that many concurrent requests on ``VllmEngine`` (base model, LoRA off: both sides run the plain
model). Each side gets a warm-up, then the best of ``--passes``. Tokens count up to and including the
first EOS. On a busy machine two OpenMP threads collapse (a descheduled thread stalls every op: seen
100x slower); measure on a quiet one.
Goal (issue 13): vLLM >= 2x Hugging Face.

    .venv/bin/python bench/bench_hf.py [--requests 16] [--max-tokens 48] [--passes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

from common import Figure, cpu_info, engine_dtype, engine_settings, ratio, write_result

from creative.chat import chat_prompt_ids
from creative.engine import SamplingSpec, VllmEngine
from creative.settings import Settings

PROMPTS = [
    "Write a one-line ad for a waterproof trail running shoe.",
    "Write a one-line ad for an electric kettle with temperature control.",
    "Write a one-line ad for a cooling memory foam pillow.",
    "Write a one-line ad for a foldable travel backpack.",
    "Write a two-sentence email teaser for noise-cancelling headphones.",
    "Write a push notification for a weekend sale on garden tools.",
    "Write a short social post about a reusable coffee cup.",
    "Write a one-line ad for a lightweight rain jacket.",
]


def prompt_ids(model_dir: Path, requests: int) -> tuple[Any, list[list[int]]]:
    """The tokenizer and the chat-templated ids of ``requests`` prompts (cycling through PROMPTS)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    ids = [
        chat_prompt_ids(tokenizer, [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}])
        for i in range(requests)
    ]
    return tokenizer, ids


def hf_side(
    model_dir: Path, dtype: str, ids: list[list[int]], max_tokens: int, passes: int, threads: int
) -> dict[str, Any]:
    """Hugging Face: one left-padded batched greedy ``generate``; best pass by output tok/s."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=getattr(torch, dtype)).eval()
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    pad = model.generation_config.pad_token_id
    pad = pad if pad is not None else min(eos_ids)
    width = max(len(p) for p in ids)
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in ids])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in ids])

    def run(new_tokens: int) -> tuple[float, list[list[int]]]:
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,  # equal work: every row writes new_tokens (vLLM: ignore_eos)
                do_sample=False,
                pad_token_id=pad,
            )
        seconds = time.perf_counter() - started
        return seconds, [_until_eos(row.tolist(), eos_ids) for row in out[:, width:]]

    run(4)  # warm-up
    best: dict[str, Any] = {}
    for _ in range(passes):
        seconds, outputs = run(max_tokens)
        tokens = sum(len(o) for o in outputs)
        if not best or tokens / seconds > best["tokens_per_s"]:
            best = {"seconds": round(seconds, 3), "output_tokens": tokens, "tokens_per_s": tokens / seconds}
            best["token_ids"] = outputs
    best["threads"] = threads
    return best


def _until_eos(tokens: list[int], eos_ids: set[int]) -> list[int]:
    """``tokens`` up to and including the first EOS."""
    for i, token in enumerate(tokens):
        if token in eos_ids:
            return tokens[: i + 1]
    return tokens


async def vllm_passes(
    engine: VllmEngine, ids: list[list[int]], max_tokens: int, passes: int
) -> dict[str, Any]:
    """vLLM: every prompt as a concurrent greedy request; best pass by output tok/s."""

    async def batch(new_tokens: int, tag: str) -> tuple[float, list[int]]:
        spec = SamplingSpec(n=1, seed=0, temperature=0.0, top_p=1.0, max_tokens=new_tokens, ignore_eos=True)
        started = time.perf_counter()
        outs = await asyncio.gather(
            *(engine.generate(p, spec, f"hf-bench-{tag}-{i}") for i, p in enumerate(ids))
        )
        return time.perf_counter() - started, [o.completions[0].output_tokens for o in outs]

    await batch(4, "warm-up")
    best: dict[str, Any] = {}
    for attempt in range(passes):
        seconds, counts = await batch(max_tokens, str(attempt))
        if not best or sum(counts) / seconds > best["tokens_per_s"]:
            best = {
                "seconds": round(seconds, 3),
                "output_tokens": sum(counts),
                "tokens_per_s": sum(counts) / seconds,
            }
            best["per_request_tokens"] = counts
    return best


def main() -> None:
    """Run both sides and write ``bench/results/hf.json``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=16, help="prompts in the batch")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument(
        "--hf-threads", type=int, default=None, help="torch threads for Hugging Face (default: usable cores)"
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings(enable_lora=False, max_num_seqs=max(64, args.requests))
    dtype = engine_dtype(settings)
    _, ids = prompt_ids(settings.resolved_model_path, args.requests)
    threads = args.hf_threads or int(cpu_info()["cores_usable"])
    hf = hf_side(settings.resolved_model_path, dtype, ids, args.max_tokens, args.passes, threads)
    engine = VllmEngine.start(settings)
    try:
        vllm = asyncio.run(vllm_passes(engine, ids, args.max_tokens, args.passes))
    finally:
        engine.shutdown()
    hf_lengths = [len(t) for t in hf.pop("token_ids")]
    details = {
        "hugging_face": {**hf, "tokens_per_s": round(hf["tokens_per_s"], 1)},
        "vllm": {**vllm, "tokens_per_s": round(vllm["tokens_per_s"], 1)},
        "same_length_fraction": round(
            sum(a == b for a, b in zip(hf_lengths, vllm["per_request_tokens"], strict=True)) / len(ids), 3
        ),
        "torch_threads_hf": hf["threads"],
        "omp_threads_env": os.environ.get("OMP_NUM_THREADS"),
    }
    write_result(
        "hf",
        [
            Figure(
                "vLLM ÷ HF generate, batched, output tok/s",
                ratio(vllm["tokens_per_s"], hf["tokens_per_s"]),
                goal=">= 2",
            ),
            Figure("vLLM output tok/s, batched", round(vllm["tokens_per_s"], 1), "tok/s"),
            Figure("HF generate output tok/s, batched", round(hf["tokens_per_s"], 1), "tok/s"),
        ],
        details,
        dtype=engine.dtype,
        kernel=None,
        settings={"args": vars(args) | {"output": None}, "engine": engine_settings(settings)},
        output=args.output,
    )


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
