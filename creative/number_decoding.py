"""Write only the numbers the product facts support, while decoding.

The faithfulness check (:meth:`creative.checks.ProductFacts.unsupported`) rejects a candidate whose copy
has a number, price or percentage the facts do not hold; with the voice adapters a quarter of all
candidates were thrown away for it ("only $49", "2 years of warranty"). This per-request step of the copy
logits processor keeps the digits on the facts' numbers instead:

- a digit may start or extend a number only while it stays the beginning of a number the facts hold,
  written the usual ways (``1200``, ``1,200``, ``1200.00``; after a currency symbol: the money amounts);
- a number that is not yet one of them may not be ended (only its next digits or separator are possible);
- a complete number may not be followed by ``%`` unless the facts hold it as a percentage, nor by a
  currency code unless they hold it as money.

Numbers glued to a word ("X5", "v.2") are not numbers to the check and are left alone here too; numbers
spelled out in words are not checked. The check after decoding stays the authority: a row whose every
possibility would be dropped is left as it was. Requests opt in with
``SamplingParams.extra_args[EXTRA_ARG] = number_forms(facts)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import regex
import torch

from creative.checks import ProductFacts, parse_number
from creative.name_decoding import drop_tokens

logger = logging.getLogger(__name__)

EXTRA_ARG = "adcreative_fact_numbers"
KINDS = ("number", "money", "percent")
TAIL_TOKENS = 24  # decoded each step: far more than any number the facts hold
CURRENCY_SYMBOLS = "$€£¥₹₩"
CURRENCY_CODES = frozenset({"USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "INR", "CNY", "KRW", "SEK"})
SEPARATORS = (",", ".")
# a number as the check reads it (not glued to a word), with a separator that may still go on
_RUN = regex.compile(r"(?<![\w.,])(?P<run>\d+(?:[.,]\d+)*)(?P<sep>[.,]?)")
_LAST_RUN = regex.compile(_RUN.pattern + "$")
# "0.125X": a digit now would make the check read "0" alone ("0.125X7" is not a number, "0" is)
_GLUED_AFTER_NUMBER = regex.compile(r"(?<![\w.,])\d+(?:[.,]\d+)+[^\W\d]\w*$")
WINDOW = 40  # characters of the tail searched for numbers


def written_forms(value: float) -> set[str]:
    """The usual ways copy writes ``value``: ``1200``, ``1,200``, ``1200.00``, ``1,200.00`` (``4.5`` too)."""
    whole = int(value)
    if value == whole:
        return {f"{whole}", f"{whole:,}", f"{whole}.00", f"{whole:,}.00"}
    forms = {f"{value:.2f}", f"{value:,.2f}"}
    if round(value, 1) == value:
        forms |= {f"{value:.1f}", f"{value:,.1f}"}
    return forms


def number_forms(facts: ProductFacts) -> dict[str, list[str]]:
    """What a request sends the step: per kind of number, every way copy may write one the facts hold."""
    values = {"number": facts.numbers, "money": facts.money, "percent": facts.percents}
    forms: dict[str, list[str]] = {}
    for kind, allowed in values.items():
        written = {form for value in allowed for form in written_forms(value)}
        written |= {text for text in facts.spelled if parse_number(text) in allowed}
        forms[kind] = sorted(written)
    return forms


@dataclass(frozen=True)
class NumberTables:
    """The vocabulary's number-related tokens: those with a digit (and their text), the bare separators,
    and those that begin with ``%`` / "percent" or a currency code."""

    digit_pieces: dict[int, str]
    separators: dict[int, str]
    percent_ids: list[int]
    code_ids: list[int]

    @classmethod
    def from_pieces(cls, pieces: dict[int, str]) -> NumberTables:
        """Tables from every token's text."""
        digits = {i: p for i, p in pieces.items() if any(c.isdigit() for c in p) and p.isascii()}
        separators = {i: p for i, p in pieces.items() if p in SEPARATORS}
        percent = [i for i, p in pieces.items() if p.lstrip().lower().startswith(("%", "percent"))]
        codes = [i for i, p in pieces.items() if p.strip().upper() in CURRENCY_CODES]
        return cls(digits, separators, percent, codes)


@dataclass
class _Kind:
    forms: tuple[str, ...]
    values: frozenset[float | None]

    def begins(self, digits: str) -> bool:
        return any(form.startswith(digits) for form in self.forms)


@dataclass
class FactNumbers:
    """The per-request step: drop the tokens that would write a number the facts do not hold."""

    forms: dict[str, list[str]]
    tables: NumberTables
    tokenizer: Any
    _kinds: dict[str, _Kind] = field(default_factory=dict, init=False)
    _failed: bool = field(default=False, init=False)
    _starts: dict[tuple[str, bool, bool], list[int]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for kind in KINDS:
            forms = tuple(self.forms.get(kind, ()))
            self._kinds[kind] = _Kind(forms, frozenset(parse_number(form) for form in forms))

    def __call__(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        try:
            return self._step(output_ids, logits)
        except Exception:  # a bug here must cost a rejected candidate at most, never the engine
            if not self._failed:
                logger.exception("fact-number decoding failed; this request continues without it")
            self._failed = True
            return logits

    def _step(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        tail = str(self.tokenizer.decode(output_ids[-TAIL_TOKENS:])) if output_ids else ""
        last = _LAST_RUN.search(tail, pos=max(0, len(tail) - WINDOW))
        if last is None:
            kind = _kind_before(tail)
            glued = tail[-1:].isalnum() or tail[-1:] in ("_", *SEPARATORS)  # a digit here joins a word
            after_number = bool(_GLUED_AFTER_NUMBER.search(tail, pos=max(0, len(tail) - WINDOW)))
            key = (kind, glued, after_number)
            if key not in self._starts:  # what may start a number depends only on these: kept
                self._starts[key] = [
                    i
                    for i, p in self.tables.digit_pieces.items()
                    if (after_number and p[0].isdigit()) or not self._fits(tail, p)
                ]
            spaced = (
                _LAST_RUN.search(tail[:-1], pos=max(0, len(tail) - WINDOW)) if tail[-1:].isspace() else None
            )
            if spaced is None or spaced.group("sep"):
                return self._drop(logits, self._starts[key])
            value = parse_number(spaced.group("run"))  # "25 %" is a percentage too
            suffixes = self._suffixes(value, _kind_before(tail[: spaced.start()]))
            return self._drop(logits, self._starts[key] + suffixes)
        kind = _kind_before(tail[: last.start()])
        run, sep = last.group("run"), last.group("sep")
        bad_digits = [i for i, p in self.tables.digit_pieces.items() if not self._fits(tail, p)]
        if parse_number(run) not in self._kinds[kind].values:  # unfinished: only its digits may follow
            keep = set(self.tables.digit_pieces) - set(bad_digits)
            if not sep:
                keep |= {i for i, p in self.tables.separators.items() if self._kinds[kind].begins(run + p)}
            drop = torch.ones(logits.shape[-1], dtype=torch.bool)
            drop[[i for i in keep if i < logits.shape[-1]]] = False
            return drop_tokens(logits, drop.to(logits.device))
        return self._drop(logits, bad_digits + ([] if sep else self._suffixes(parse_number(run), kind)))

    def _suffixes(self, value: float | None, kind: str) -> list[int]:
        """After a complete number: ``%`` unless it is a fact's percentage, a currency code unless money."""
        drop = [] if value in self._kinds["percent"].values else list(self.tables.percent_ids)
        if kind == "number" and value not in self._kinds["money"].values:
            drop += self.tables.code_ids
        return drop

    def _fits(self, tail: str, piece: str) -> bool:
        """Whether every number ``piece`` starts or extends after ``tail`` is, or begins, a fact's."""
        text = tail + piece
        for match in _RUN.finditer(text, pos=max(0, len(tail) - WINDOW)):
            if match.end() < len(tail):
                continue  # finished before the piece (judged then)
            kind = self._kinds[_kind_before(text[: match.start()])]
            if match.end() == len(text):
                if not kind.begins(match.group("run") + match.group("sep")):
                    return False
            elif not self._complete(match.group("run"), kind, text[match.end() :]):
                return False
        return True

    def _complete(self, run: str, kind: _Kind, after: str) -> bool:
        """A finished number is a fact's, and a fact's percentage when ``%`` follows."""
        value = parse_number(run)
        percent = after.lstrip()[:1] == "%"
        return value in kind.values and (not percent or value in self._kinds["percent"].values)

    @staticmethod
    def _drop(logits: torch.Tensor, ids: list[int]) -> torch.Tensor:
        ids = [i for i in ids if i < logits.shape[-1]]
        return (
            drop_tokens(logits, torch.tensor(ids, dtype=torch.long, device=logits.device)) if ids else logits
        )


def _kind_before(text: str) -> str:
    """Money when ``text`` ends with a currency symbol (and at most one space), else a plain number."""
    stripped = text[:-1] if text[-1:].isspace() else text
    return "money" if stripped[-1:] in CURRENCY_SYMBOLS else "number"
