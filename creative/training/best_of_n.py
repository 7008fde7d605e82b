"""Best-of-n data for rejection-sampling fine-tuning: the copy the scorecard rewards, written by a model.

For every training row the current adapter writes ``n`` candidates (one round, no regeneration). A
candidate is *eligible* when it passed every check as generated (valid first try: no repair, no name
respelled, within limits, faithful), spells every word (an English word or one of the prompt's) and
copies little of the prompt (novelty ≥ ``min_novelty``). Each
eligible candidate is scored by its **contrast**: cosine to its own profile minus the highest cosine to
another profile on the same product (the ranker's embedding, the judge the evaluation calls
*personalization*), plus ``novelty_weight`` × novelty. The best candidate of each row becomes that row's
new target. The lexical judge (profile words in the copy) stays out of the reward, so the evaluation can
still grade the result with a judge it was not trained on.

    python -m creative.training sample --data data/ad_copy/train.jsonl --adapter house --n 8 \\
        --out var/training/best-of-8.jsonl
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import util

from core.schema import CreativeRequest, CreativeResult, Variant
from creative.training.data import TrainingRow, write_rows
from ranking.metrics import novelty
from ranking.spelling import unknown_words

EmbedFn = Callable[[Sequence[str]], torch.Tensor]
MIN_NOVELTY = 0.8
NOVELTY_WEIGHT = 0.1


@dataclass(frozen=True)
class Choice:
    """The best eligible candidate of one row (None when no candidate was eligible) and its reward."""

    row: int
    variant: Variant | None
    reward: float | None
    eligible: int
    written: int


def rivals_by_row(rows: Sequence[TrainingRow]) -> list[list[int]]:
    """For each row, the rows of other profiles on the same product (any placement, one per profile)."""
    by_product: dict[str, dict[str, int]] = defaultdict(dict)
    for index, row in enumerate(rows):
        by_product[row.product.name].setdefault(row.profile.id, index)
    return [
        [other for profile, other in by_product[row.product.name].items() if profile != row.profile.id]
        for row in rows
    ]


def eligible(variant: Variant, prompt: str) -> bool:
    """Valid as generated (no repair of any kind, first round) and every word spelled (an English word or
    one of the prompt's); :func:`choose` also asks for enough novelty."""
    return variant.valid_first_try and not variant.repaired and not unknown_words(variant.text, [prompt])


def contrasts(copy: Sequence[str], own: str, rivals: Sequence[str], embed: EmbedFn) -> list[float]:
    """Per copy: cosine to ``own`` minus the highest cosine to a rival profile (0 rivals: to ``own``)."""
    vectors = embed([*copy, own, *rivals])
    copies, profiles = vectors[: len(copy)], vectors[len(copy) :]
    cos = util.cos_sim(copies, profiles)
    best_rival = cos[:, 1:].max(dim=1).values if rivals else torch.zeros(len(copy))
    return [float(v) for v in cos[:, 0] - best_rival]


def choose(
    index: int,
    result: CreativeResult,
    prompt: str,
    profiles: tuple[str, Sequence[str]],
    embed: EmbedFn,
    settings: tuple[float, float] = (MIN_NOVELTY, NOVELTY_WEIGHT),
) -> Choice:
    """The row's best eligible candidate by contrast + novelty_weight × novelty; ``profiles`` is the
    row's own profile text and its rivals'."""
    (min_novelty, novelty_weight), (own, rivals) = settings, profiles
    scored = [(v, novelty(v.text, prompt)) for v in result.variants if eligible(v, prompt)]
    kept = [(v, novel) for v, novel in scored if novel >= min_novelty]
    pool = [v for v, _ in kept]
    written = len(result.variants) + len(result.rejected)
    if not pool:
        return Choice(index, None, None, 0, written)
    scores = contrasts([v.text for v in pool], own, rivals, embed)
    rewards = [s + novelty_weight * novel for s, (_, novel) in zip(scores, kept, strict=True)]
    best = max(range(len(pool)), key=lambda i: rewards[i])
    return Choice(index, pool[best], rewards[best], len(pool), written)


async def write_all(
    write: Callable[[CreativeRequest, str], Any], requests: Sequence[CreativeRequest], every: int = 50
) -> list[CreativeResult]:
    """Every request at once (the engine batches them), with progress on stderr every ``every`` rows."""
    done = 0
    started = time.perf_counter()

    async def one(i: int, request: CreativeRequest) -> CreativeResult:
        nonlocal done
        result: CreativeResult = await write(request, f"best-of-n-{i}")
        done += 1
        if done % every == 0 or done == len(requests):
            rate = done / (time.perf_counter() - started)
            print(f"sample: {done}/{len(requests)} rows ({rate:.2f} rows/s)", file=sys.stderr, flush=True)
        return result

    return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))


def summarize(choices: Sequence[Choice]) -> dict[str, Any]:
    """Counts and mean reward of the chosen candidates."""
    chosen = [c for c in choices if c.variant is not None]
    rewards = [c.reward for c in chosen if c.reward is not None]
    return {
        "rows": len(choices),
        "rows_with_a_choice": len(chosen),
        "candidates": sum(c.written for c in choices),
        "eligible": sum(c.eligible for c in choices),
        "mean_reward": sum(rewards) / len(rewards) if rewards else None,
    }


def _kind(text: str) -> str:
    """``"headline: 41 chars, limit 30"`` → ``"# chars, limit #"``: what happened, without the specifics."""
    what = text.split(": ", 1)[-1]
    return re.sub(r"\d+(?:\.\d+)?", "#", re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", what))


def why_not_first_try(results: Sequence[CreativeResult]) -> dict[str, int]:
    """Why candidates were not valid as generated: repair kinds and rejection reasons, most common first."""
    counts: Counter[str] = Counter()
    for result in results:
        for variant in result.variants:
            counts.update({_kind(r) for r in variant.repairs})
        for rejected in result.rejected:
            counts.update({_kind(r) for r in rejected.reasons})
    return dict(counts.most_common(15))


def write_choices(path: Path, rows: Sequence[TrainingRow], choices: Sequence[Choice]) -> str:
    """Rows whose target is their chosen candidate; rows without one, and copy already chosen for an
    earlier row (the validator refuses duplicates), are left out. Returns the file's SHA-256."""
    chosen, seen = [], set()
    for choice in choices:
        if choice.variant is None or choice.variant.text in seen:
            continue
        seen.add(choice.variant.text)
        chosen.append(
            rows[choice.row].model_copy(update={"target": dict(choice.variant.fields), "voices": {}})
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_rows(path, chosen)


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """``OUT.summary.json`` beside the rows."""
    path.with_suffix(".summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def run_sampling(args: Any) -> int:
    """``python -m creative.training sample``."""
    from creative.adapters import registry_from_settings
    from creative.engine import VllmEngine
    from creative.settings import Settings
    from creative.training.data import validate_files
    from creative.training.evaluate import prompt_text
    from creative.writer import CreativeWriter
    from ranking.rank import Ranker
    from ranking.texts import profile_text

    if args.n < 1:
        print(f"error: --n must be at least 1, not {args.n}", file=sys.stderr)
        return 2
    report = validate_files([args.data])
    if not report.ok:
        print(report.render(), file=sys.stderr)
        return 1
    rows = report.rows
    settings = Settings().model_copy(update={"max_regenerations": 0, "max_n": max(args.n, 1)})
    registry = registry_from_settings(settings)
    adapter = registry.resolve(args.adapter) if args.adapter != "base" else None
    if args.adapter != "base" and adapter is None:
        print(f"error: no adapter {args.adapter!r} to sample from", file=sys.stderr)
        return 1
    name = adapter.name if adapter is not None else None
    requests = [
        row.request(n=args.n, k=args.n, seed=args.seed * 100_000 + i, adapter=name)
        for i, row in enumerate(rows)
    ]
    ranker = Ranker.from_settings()
    engine = VllmEngine.start(settings)
    try:
        writer = CreativeWriter(engine, settings, adapters=registry)
        results = asyncio.run(write_all(writer.write, requests))
    finally:
        engine.shutdown()
    rivals = rivals_by_row(rows)
    choices = []
    for i, (request, result) in enumerate(zip(requests, results, strict=True)):
        own, others = profile_text(request.profile), [profile_text(rows[j].profile) for j in rivals[i]]
        settings_pair = (args.min_novelty, args.novelty_weight)
        choices.append(
            choose(
                i, result, prompt_text(writer, request), (own, others), ranker.embedder.embed, settings_pair
            )
        )
    digest = write_choices(args.out, rows, choices)
    summary = {
        "command": "python -m creative.training " + " ".join(sys.argv[1:]),
        "data": str(args.data),
        "adapter": args.adapter,
        "n": args.n,
        "seed": args.seed,
        "min_novelty": args.min_novelty,
        "novelty_weight": args.novelty_weight,
        "reward": "cos(copy, own profile) - max cos(copy, other profile on the product) "
        "+ novelty_weight * novelty; eligible: valid first try, unrepaired, every word spelled, "
        "novelty >= min_novelty",
        "out_sha256": digest,
        **summarize(choices),
        "not_first_try": why_not_first_try(results),
    }
    write_summary(args.out, summary)
    print(json.dumps(summary, indent=2))
    return 0
