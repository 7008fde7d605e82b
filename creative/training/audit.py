"""Audit the training data's personalization: do the hand-written targets of two contrasting profiles on
one product speak to each profile's own interests? Scored with the lexical judge (the same one the
evaluation reports), so the data's own ceiling is known before a model is trained on it.

    python -m creative.training audit data/ad_copy/train.jsonl data/ad_copy/validation.jsonl
    python -m creative.training audit --rows data/ad_copy/raw-a.jsonl   # each row to rewrite, and why
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from core.placements import count_chars, get_placement
from creative.context import prompt_text
from creative.training.data import TrainingRow
from prompts.store import TemplateStore
from ranking.metrics import (
    ProfilePair,
    lexical_personalization,
    novelty,
    own_words,
    product_words,
    profile_words,
    stems,
    uses_more_own_words,
)


def target_pairs(rows: list[TrainingRow]) -> list[ProfilePair]:
    """Every pair of rows on the same product and placement with different profiles, their targets as
    the copy."""
    groups: dict[tuple[str, str], list[TrainingRow]] = defaultdict(list)
    for row in rows:
        groups[(row.product.name, row.placement)].append(row)
    pairs = []
    for members in groups.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a.profile.id == b.profile.id:
                    continue
                request = a.request(n=1, k=1, seed=0)
                pairs.append(
                    ProfilePair(
                        profile_a=a.profile.id,
                        copy_a=[" ".join(a.target.values())],
                        profile_b=b.profile.id,
                        copy_b=[" ".join(b.target.values())],
                        words_a=profile_words(a.profile),
                        words_b=profile_words(b.profile),
                        product_words=product_words(request),
                    )
                )
    return pairs


def row_gaps(rows: list[TrainingRow], voice: str | None = None) -> list[dict[str, Any]]:
    """Rows whose target (or copy in ``voice``) does not use more of its own profile's words than of some
    other profile's on the same product and placement (the pairs the lexical judge would count as a
    miss), with the words the copy could use: its own interest and activity stems that no rival profile
    and no product fact has. ``line`` is 1-based, in the order of ``rows``."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        if row.copy_for(voice):  # rivals are the rows the audit compares: those with copy in the voice
            groups[(row.product.name, row.placement)].append(index)
    gaps = []
    for index, row in enumerate(rows):
        copy = row.copy_for(voice)
        if copy is None:
            continue
        facts = product_words(row.request(n=1, k=1, seed=0))
        used = stems(copy.values())
        losing, distinctive = [], []
        for other_index in groups[(row.product.name, row.placement)]:
            other = rows[other_index]
            if other.profile.id == row.profile.id:
                continue
            own, rival = own_words(profile_words(row.profile), profile_words(other.profile), facts)
            distinctive.append(own)
            if own and rival and not uses_more_own_words(used, own, rival):
                losing.append(other.profile.id)
        if losing:
            gaps.append(
                {
                    "line": index + 1,
                    "profile": row.profile.id,
                    "product": row.product.name,
                    "placement": row.placement,
                    "loses_to": losing,
                    "own_words": sorted(set.intersection(*distinctive)),
                }
            )
    return gaps


NEAR_LIMIT = 0.85


def near_limit_share(rows: list[TrainingRow], share: float = NEAR_LIMIT) -> float | None:
    """Share of target fields longer than ``share`` of their placement's limit. A model cannot count
    characters; trained on copy that fills its fields, it overruns them, and the grammar cuts the word."""
    lengths = [
        count_chars(text, placement.counting) / spec.max_chars
        for row in rows
        for placement in [get_placement(row.placement)]
        for spec in placement.fields
        for text in [row.target.get(spec.name, "")]
    ]
    return sum(length > share for length in lengths) / len(lengths) if lengths else None


def target_novelty(rows: list[TrainingRow], templates: TemplateStore) -> float | None:
    """Mean novelty of the targets against their rendered prompts (the evaluation's novelty, measured on
    the data): a model trained to copy product phrases cannot be novel."""
    scores = [
        novelty(
            " ".join(row.target.values()),
            prompt_text(templates, row.profile, row.product, get_placement(row.placement)),
        )
        for row in rows
    ]
    return sum(scores) / len(scores) if scores else None


def in_voice(rows: list[TrainingRow], voice: str | None) -> list[TrainingRow]:
    """The rows that have copy in ``voice`` (None: the house target), that copy as their target."""
    return [row.model_copy(update={"target": copy}) for row in rows if (copy := row.copy_for(voice))]


def audit(files: dict[Path, list[TrainingRow]], voice: str | None = None) -> dict[str, Any]:
    """Per file: rows, contrasting pairs, the lexical personalization of the targets (or of the copy in
    ``voice``), the share of fields near their limit and the copy's novelty."""
    templates = TemplateStore.from_directory()
    report = {}
    for path, all_rows in files.items():
        rows = in_voice(all_rows, voice)
        pairs = target_pairs(rows)
        report[str(path)] = {
            "rows": len(rows),
            "pairs": len(pairs),
            "lexical_personalization": lexical_personalization(pairs),
            "fields_over_85pct_of_limit": near_limit_share(rows),
            "target_novelty": target_novelty(rows, templates),
        }
    return report
