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

Everything is judged on the copy as the check reads it: the generated JSON string decoded (``\\n7`` is a
newline and a 7) and its whitespace runs one space, with the check's own currency codes and "percent".
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

from creative.checks import CURRENCY_CODES, CURRENCY_SYMBOLS, PERCENT_WORD, ProductFacts, parse_number
from creative.name_decoding import drop_tokens

logger = logging.getLogger(__name__)

EXTRA_ARG = "adcreative_fact_numbers"
KINDS = ("number", "money", "percent")
TAIL_TOKENS = 24  # decoded each step: far more than any number the facts hold
SEPARATORS = (",", ".")
# a number as the check reads it (not glued to a word), with a separator that may still go on
_RUN = regex.compile(r"(?<![\w.,])(?P<run>\d+(?:[.,]\d+)*)(?P<sep>[.,]?)")
_LAST_RUN = regex.compile(_RUN.pattern + "$")
# "0.125X": a digit now would make the check read "0" alone ("0.125X7" is not a number, "0" is)
_GLUED_AFTER_NUMBER = regex.compile(r"(?<![\w.,])\d+(?:[.,]\d+)+[^\W\d]\w*$")
_GLUED_DIGIT = regex.compile(r"(?<![\w.,])\d+(?:[.,]\d+)+[^\W\d]\w*\d")
# a finished number and the beginning of a word that would make it a percentage or money ("5 per", "5 GB")
_PARTIAL_SUFFIX = regex.compile(r"(?<![\w.,])(?P<run>\d+(?:[.,]\d+)*)\s?(?P<letters>[^\W\d_]{1,6})$")
_SUFFIX = regex.compile(
    rf"\s?(?:(?P<percent>%|{PERCENT_WORD}\b)|(?P<code>(?:{'|'.join(CURRENCY_CODES)})\b))", regex.IGNORECASE
)
# JSON string escapes, and one cut off at the end of the decoded tail
_ESCAPE = regex.compile(r'\\(?:u[0-9a-fA-F]{4}|["\\/bfnrt]|u[0-9a-fA-F]{0,3}$|$)')
_UNESCAPED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_SPACES = regex.compile(r"\s+")
WINDOW = 40  # characters of the tail searched for numbers


def checked_text(raw: str) -> tuple[str, bool]:
    """The generated JSON as the check reads the copy (escapes decoded, whitespace runs one space), and
    whether an escape was cut off at its end (it is left out until its next characters arrive)."""
    cut = False

    def unescape(match: regex.Match[str]) -> str:
        nonlocal cut
        body = match.group()[1:]
        if len(body) == 5 and body[0] == "u":
            return chr(int(body[1:], 16))
        if len(body) == 1 and body != "u":
            return _UNESCAPED.get(body, body)
        cut = True
        return ""

    return _SPACES.sub(" ", _ESCAPE.sub(unescape, raw)), cut


def _starts_word(text: str, word: str) -> bool:
    """``text`` begins with ``word`` (any case) as a whole word, as the check's ``\\b`` reads it."""
    after = text[len(word) : len(word) + 1]
    return text[: len(word)].upper() == word.upper() and not (after.isalnum() or after == "_")


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
    and those that write ``%``, "percent" or a currency code as a whole word after at most one space."""

    digit_pieces: dict[int, str]
    separators: dict[int, str]
    percent_ids: list[int]
    code_ids: list[int]
    pieces: dict[int, str] = field(default_factory=dict, repr=False)
    _endings: dict[str, list[int]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_pieces(cls, pieces: dict[int, str]) -> NumberTables:
        """Tables from every token's text."""
        digits = {i: p for i, p in pieces.items() if any(c.isdigit() for c in p) and p.isascii()}
        separators = {i: p for i, p in pieces.items() if p in SEPARATORS}
        percent = [
            i
            for i, p in pieces.items()
            if p.lstrip().startswith("%") or _starts_word(p.lstrip(), PERCENT_WORD)
        ]
        codes = [
            i for i, p in pieces.items() if any(_starts_word(p.lstrip(), code) for code in CURRENCY_CODES)
        ]
        return cls(digits, separators, percent, codes, pieces)

    def ending(self, rest: str) -> list[int]:
        """The tokens that finish a word whose last ``rest`` letters are still to come ("BP" of "GBP")."""
        if rest not in self._endings:  # a handful of distinct endings: each vocabulary scan is kept
            self._endings[rest] = [i for i, p in self.pieces.items() if _starts_word(p, rest)]
        return self._endings[rest]


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
    _starts: dict[tuple[str, bool, bool, bool, bool], list[int]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for kind in KINDS:
            forms = tuple(self.forms.get(kind, ()))
            self._kinds[kind] = _Kind(forms, frozenset(parse_number(form) for form in forms))

    def __call__(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        if self._failed:
            return logits
        try:
            return self._step(output_ids, logits)
        except Exception:  # a bug here must cost a rejected candidate at most, never the engine
            logger.exception("fact-number decoding failed; this request continues without it")
            self._failed = True
            return logits

    def _step(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        raw = str(self.tokenizer.decode(output_ids[-TAIL_TOKENS:])) if output_ids else ""
        tail, cut = checked_text(raw)
        window = max(0, len(tail) - WINDOW)
        last = _LAST_RUN.search(tail, pos=window)
        if last is None:
            kind = _kind_before(tail)
            glued = tail[-1:].isalnum() or tail[-1:] in ("_", *SEPARATORS)  # a digit here joins a word
            after_number = bool(_GLUED_AFTER_NUMBER.search(tail, pos=window))
            key = (kind, glued, after_number, tail[-1:].isspace(), cut)
            if key not in self._starts:  # what may start a number depends only on these: kept
                self._starts[key] = [
                    i for i, p in self.tables.digit_pieces.items() if not self._fits(raw, len(tail), p)
                ]
            return self._drop(logits, self._starts[key] + self._after_number(tail, window))
        kind = _kind_before(tail[: last.start()])
        run, sep = last.group("run"), last.group("sep")
        bad_digits = [i for i, p in self.tables.digit_pieces.items() if not self._fits(raw, len(tail), p)]
        if parse_number(run) not in self._kinds[kind].values:  # unfinished: only its digits may follow
            keep = set(self.tables.digit_pieces) - set(bad_digits)
            if not sep:
                keep |= {i for i, p in self.tables.separators.items() if self._kinds[kind].begins(run + p)}
            drop = torch.ones(logits.shape[-1], dtype=torch.bool)
            drop[[i for i in keep if i < logits.shape[-1]]] = False
            return drop_tokens(logits, drop.to(logits.device))
        return self._drop(logits, bad_digits + ([] if sep else self._suffixes(parse_number(run), kind)))

    def _after_number(self, tail: str, window: int) -> list[int]:
        """After a finished number and a space ("25 %" is a percentage too), or the first letters of a
        word that would make it one ("25 per", "25 GB"): the tokens that would, unless the facts agree."""
        if tail[-1:].isspace():
            spaced = _LAST_RUN.search(tail[:-1], pos=window)
            if spaced is None or spaced.group("sep"):
                return []
            return self._suffixes(parse_number(spaced.group("run")), _kind_before(tail[: spaced.start()]))
        partial = _PARTIAL_SUFFIX.search(tail, pos=window)
        if partial is None:
            return []
        value, letters = parse_number(partial.group("run")), partial.group("letters")
        words = [] if value in self._kinds["percent"].values else [PERCENT_WORD]
        if _kind_before(tail[: partial.start()]) == "number" and value not in self._kinds["money"].values:
            words += CURRENCY_CODES
        begun = [w for w in words if len(w) > len(letters) and w.upper().startswith(letters.upper())]
        return [i for word in begun for i in self.tables.ending(word[len(letters) :])]

    def _suffixes(self, value: float | None, kind: str) -> list[int]:
        """After a complete number: ``%`` unless it is a fact's percentage, a currency code unless money."""
        drop = [] if value in self._kinds["percent"].values else list(self.tables.percent_ids)
        if kind == "number" and value not in self._kinds["money"].values:
            drop += self.tables.code_ids
        return drop

    def _fits(self, raw: str, start: int, piece: str) -> bool:
        """Whether every number ``piece`` starts or extends after the generated ``raw`` (whose checked
        text is ``start`` characters long) is, or begins, a fact's."""
        text = checked_text(raw + piece)[0]
        window = max(0, start - WINDOW)
        if any(m.end() > start for m in _GLUED_DIGIT.finditer(text, pos=window)):
            return False  # "0.125X7": the check would read "0"
        for match in _RUN.finditer(text, pos=window):
            if match.end() < start:
                continue  # finished before the piece (judged then)
            kind = self._kinds[_kind_before(text[: match.start()])]
            if match.end() == len(text):
                if not kind.begins(match.group("run") + match.group("sep")):
                    return False
            elif not self._complete(match.group("run"), kind, text[match.end() :]):
                return False
        return True

    def _complete(self, run: str, kind: _Kind, after: str) -> bool:
        """A finished number is a fact's; a fact's percentage before ``%``, money before a currency code."""
        value = parse_number(run)
        suffix = _SUFFIX.match(after)
        if suffix and suffix.group("percent"):
            return value in self._kinds["percent"].values
        if suffix and suffix.group("code"):
            return value in self._kinds["money"].values
        return value in kind.values

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
