"""Audit the training data's personalization: do the hand-written targets of two contrasting profiles on
one product speak to each profile's own interests? Scored with the lexical judge (the same one the
evaluation reports), so the data's own ceiling is known before a model is trained on it.

    python -m creative.training audit data/ad_copy/train.jsonl data/ad_copy/validation.jsonl
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from creative.training.data import TrainingRow
from ranking.metrics import ProfilePair, lexical_personalization, product_words


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
                        words_a=[*a.profile.interests, *a.profile.recent_activity],
                        words_b=[*b.profile.interests, *b.profile.recent_activity],
                        product_words=product_words(request),
                    )
                )
    return pairs


def audit(files: dict[Path, list[TrainingRow]]) -> dict[str, Any]:
    """Per file: rows, contrasting pairs and the lexical personalization of the targets."""
    report = {}
    for path, rows in files.items():
        pairs = target_pairs(rows)
        report[str(path)] = {
            "rows": len(rows),
            "pairs": len(pairs),
            "lexical_personalization": lexical_personalization(pairs),
        }
    return report
