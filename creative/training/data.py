"""The training data: request-shaped rows with target copy, their validation report, and the split.

A row is a :class:`~core.schema.CreativeRequest`'s ``profile``, ``product`` and ``placement`` plus
``target`` (the placement's fields) and, optionally, ``voices`` (the same copy in named brand voices).
Validation checks every target the way the writer checks generated copy: field names, platform limits,
numbers against the product facts, forbidden words, and duplicates.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import validation_error_info
from core.placements import PLACEMENTS, count_chars
from core.schema import CreativeRequest, Product, Profile
from creative.checks import ForbiddenWords, ProductFacts
from creative.settings import DEFAULT_FORBIDDEN_WORDS

SPLITS = ("train", "validation", "test")


class TrainingRow(BaseModel):
    """One example: who, what, where, and the copy a great copywriter would write for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Profile
    product: Product
    placement: str
    target: dict[str, str]
    voices: dict[str, dict[str, str]] = Field(default_factory=dict)

    def request(self, **overrides: object) -> CreativeRequest:
        """The generation request this row answers."""
        data = {"profile": self.profile, "product": self.product, "placement": self.placement, **overrides}
        return CreativeRequest.model_validate(data)

    def copy_for(self, voice: str | None) -> dict[str, str] | None:
        """The target in ``voice`` (None: the house voice); None when the row has no such voice."""
        return self.target if voice is None else self.voices.get(voice)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row."""

    line: int | str  # a line number, or ``file:line``
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if isinstance(self.line, int) else str(self.line)
        return f"{where}: {self.field}: {self.message}"


@dataclass
class DataReport:
    """What validation found: the good rows, the problems, and what the data covers."""

    rows: list[TrainingRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lines: int = 0

    @property
    def ok(self) -> bool:
        """True when no row has a problem."""
        return not self.problems

    def summary(self) -> dict[str, object]:
        """Counts for people and for the adapter card."""
        products = {row.product.name for row in self.rows}
        return {
            "lines": self.lines,
            "valid_rows": len(self.rows),
            "problems": len(self.problems),
            "products": len(products),
            "categories": len({row.product.category for row in self.rows}),
            "profiles": len({row.profile.id for row in self.rows}),
            "placements": dict(sorted(Counter(row.placement for row in self.rows).items())),
            "voices": dict(sorted(Counter(v for row in self.rows for v in row.voices).items())),
        }

    def render(self, limit: int = 50) -> str:
        """A readable report: the summary, then up to ``limit`` problems."""
        lines = [json.dumps(self.summary())]
        lines += [str(p) for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"… and {len(self.problems) - limit} more problems")
        return "\n".join(lines)


def copy_problems(
    copy: dict[str, str], placement: str, facts: ProductFacts, forbidden: ForbiddenWords, where: str
) -> list[tuple[str, str]]:
    """(field, message) for every way ``copy`` breaks the placement's rules or the product facts."""
    spec = PLACEMENTS[placement]
    expected = [f.name for f in spec.fields]
    if sorted(copy) != sorted(expected):
        return [(where, f"fields must be {expected}, got {sorted(copy)}")]
    problems = []
    for f in spec.fields:
        text = copy[f.name]
        size = count_chars(text, spec.counting)
        if not f.min_chars <= size <= f.max_chars:
            problems.append((f"{where}.{f.name}", f"{size} characters, limit {f.min_chars}..{f.max_chars}"))
        if text != text.strip():
            problems.append((f"{where}.{f.name}", "leading or trailing whitespace"))
        problems += [(f"{where}.{f.name}", reason) for reason in facts.unsupported(text)]
        problems += [(f"{where}.{f.name}", f"forbidden word {word!r}") for word in forbidden.found(text)]
    return problems


def _normalized(copy: dict[str, str]) -> str:
    return " | ".join(" ".join(value.lower().split()) for value in copy.values())


def validate_rows(
    lines: Iterable[tuple[int | str, str]], forbidden_words: Sequence[str] = DEFAULT_FORBIDDEN_WORDS
) -> DataReport:
    """Check every line; valid rows are kept in order, every problem is reported with its line."""
    report = DataReport()
    forbidden = ForbiddenWords.combine(forbidden_words)
    seen: dict[tuple[str, str], int | str] = {}
    for number, line in lines:
        report.lines += 1
        try:
            row = TrainingRow.model_validate_json(line)
        except ValidationError as exc:
            info = validation_error_info(exc)
            report.problems.append(Problem(number, info.param or "row", info.message))
            continue
        if row.placement not in PLACEMENTS:
            known = ", ".join(sorted(PLACEMENTS))
            report.problems.append(
                Problem(number, "placement", f"unknown placement {row.placement!r}; known: {known}")
            )
            continue
        facts = ProductFacts.from_product(row.product)
        found = copy_problems(row.target, row.placement, facts, forbidden, "target")
        for voice, copy in row.voices.items():
            found += copy_problems(copy, row.placement, facts, forbidden, f"voices.{voice}")
        key = (row.placement, _normalized(row.target))
        if key in seen:
            first = seen[key]
            found.append(("target", f"duplicate of {f'line {first}' if isinstance(first, int) else first}"))
        else:
            seen[key] = number
        if found:
            report.problems += [Problem(number, where, message) for where, message in found]
        else:
            report.rows.append(row)
    return report


def read_lines(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """Non-blank lines of the files, each with its ``file:line`` location."""
    located: list[tuple[str, str]] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            located += [(f"{path.name}:{n}", line) for n, line in enumerate(handle, start=1) if line.strip()]
    return located


def validate_files(paths: Iterable[Path]) -> DataReport:
    """:func:`validate_rows` over one or more JSONL files."""
    return validate_rows(read_lines(paths))


def product_key(product: Product) -> str:
    """Products are identified by brand and name (a split never shares one between two parts)."""
    return f"{product.brand or ''}|{product.name}".lower()


def split_by_product(
    rows: Sequence[TrainingRow], validation: float = 0.1, test: float = 0.1, seed: int = 0
) -> dict[str, list[TrainingRow]]:
    """Train / validation / test with every product in exactly one part (test products are unseen).

    Products are ordered by a seeded hash, so the split is stable when rows are added.
    """
    products = sorted(
        {product_key(r.product) for r in rows},
        key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).hexdigest(),
    )
    n_test = max(1, round(len(products) * test))
    n_validation = max(1, round(len(products) * validation))
    part = {key: "test" for key in products[:n_test]}
    part |= {key: "validation" for key in products[n_test : n_test + n_validation]}
    splits: dict[str, list[TrainingRow]] = {name: [] for name in SPLITS}
    for row in rows:
        splits[part.get(product_key(row.product), "train")].append(row)
    return splits


def write_rows(path: Path, rows: Iterable[TrainingRow]) -> str:
    """Write rows as JSONL; return the file's SHA-256."""
    text = "".join(row.model_dump_json(exclude_defaults=True) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a data file (recorded in the adapter card)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
