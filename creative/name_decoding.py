"""Names spelled exactly while they are written: finish a begun name during decoding.

A small model that has begun "Nimbus Noise-Can" may go on with "ning Headphones"; :class:`NameGuard`
repairs such a near miss afterwards, but the candidate was still written wrong (and a repaired name can
overflow its field). This processor works during decoding instead: once the copy has unambiguously
begun a word of one of the request's protected names, only tokens that finish that word exactly stay
possible, and the finished word may not run on ("Cloudstep Shiftape"). Whether the name goes on to its
next word stays the model's choice (it may stop at "Turnwell Compost" where the field has no room for
"Tumbler"); a next word it begins is finished the same way.

*Unambiguously begun*: the copy ends with a prefix of the name that starts at a word boundary, matches
case-sensitively (or all lower-case, for a lower-cased name), and either reaches past the name's first
word or is at least ``MIN_PREFIX`` characters of a first word that is no English word by itself
("Cloudst" of "Cloudstep", never "Cloud"). Restricting never empties a row: the structured-output grammar
has already masked its tokens, and when no continuation is left possible (the field's limit), the row
is left as it was.

Requests opt in with ``SamplingParams.extra_args[EXTRA_ARG] = [names…]`` (the writer passes the
product's :class:`NameGuard` names); requests without it cost nothing. The vLLM side is
:mod:`creative.copy_processor` (loaded by the engine core process, setting ``exact_names``).
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch

logger = logging.getLogger(__name__)

EXTRA_ARG = "adcreative_exact_names"
MIN_PREFIX = 4
TAIL_TOKENS = 16  # decoded each step: longer than any name's prefix needs


@dataclass(frozen=True)
class ExactNames:
    """The names of one request, in the case variants copy may begin them in."""

    names: tuple[str, ...]

    @classmethod
    def of(cls, names: Sequence[str]) -> ExactNames:
        """``names`` as given and all lower-case; longest first."""
        variants = {
            variant for name in names if name.strip() for variant in (name.strip(), name.strip().lower())
        }
        return cls(tuple(sorted(variants, key=lambda n: (-len(n), n))))

    def next_step(self, text: str) -> NameStep:
        """What may follow ``text``, given the names it ends inside of."""
        rests: set[str] = set()
        word_done = False
        early = []
        for name in self.names:
            size = _begun(name, text)
            if not size:
                continue
            if _unambiguous(name, size):
                rest = name[size:].split(" ", 1)[0]
                if rest:
                    rests.add(rest)
                else:
                    word_done = True
            else:
                early.append((name, size))
        return NameStep(frozenset(rests), word_done and not rests, tuple(early))


@dataclass(frozen=True)
class NameStep:
    """What may follow the copy so far: ``rests`` of the name words it has unambiguously begun (only
    those may follow); ``word_done``: it has just finished one (the next character may not lengthen it);
    ``early``: (name, size) for names whose first ``size`` characters it ends with, too few to be sure
    (a token that would go on past the sure point to a wrong spelling is dropped)."""

    rests: frozenset[str]
    word_done: bool
    early: tuple[tuple[str, int], ...]


def _begun(name: str, text: str) -> int:
    """The length of the longest start of ``name`` that ``text`` ends with, at a word boundary (0: none)."""
    for size in range(min(len(name), len(text)), 0, -1):
        start = len(text) - size
        if (start == 0 or not text[start - 1].isalnum()) and name.startswith(text[start:]):
            return size
    return 0


def _unambiguous(name: str, size: int) -> bool:
    """The first ``size`` characters of ``name`` can only be the name: past its first word, or at least
    ``MIN_PREFIX`` characters that are no English word by themselves."""
    first_word = name.split(" ", 1)[0]
    if size > len(first_word):
        return True
    from ranking.spelling import is_english_word  # here: the CLI's import stays free of ranking

    return size >= MIN_PREFIX and not is_english_word(first_word[:size])


def _common_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


@cache
def first_unambiguous(name: str) -> int:
    """The fewest characters of ``name`` that can only be the name."""
    return next(size for size in range(1, len(name) + 2) if _unambiguous(name, size))


class TokenPieces:
    """Every vocabulary token's text, indexed by text, to find the tokens that continue a name."""

    def __init__(self, pieces: dict[int, str]):
        self.by_text: dict[str, list[int]] = defaultdict(list)
        for token_id, text in pieces.items():
            if text and "\ufffd" not in text:
                self.by_text[text].append(token_id)
        self._sorted = sorted(self.by_text)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> TokenPieces:
        """All pieces of a Hugging Face tokenizer (a second or so for a 50k vocabulary)."""
        return cls({i: tokenizer.decode([i]) for i in range(len(tokenizer))})

    def continuing(self, rests: set[str]) -> list[int]:
        """Token ids whose text is a non-empty prefix of one of ``rests``."""
        ids: set[int] = set()
        for rest in rests:
            for end in range(1, len(rest) + 1):
                ids.update(self.by_text.get(rest[:end], ()))
        return sorted(ids)

    def diverging(self, name: str, size: int) -> list[int]:
        """Token ids that, written after the first ``size`` characters of ``name``, would spell its sure
        start and then a different letter or digit within the same word ("Qzx" + "vs" for "Qzxvorpal")."""
        rest = name[size:]
        stem = rest[: first_unambiguous(name) - size]
        if not stem:
            return []
        word_end = rest.find(" ", len(stem))
        word_end = len(rest) if word_end < 0 else word_end
        ids: list[int] = []
        for index in range(bisect.bisect_left(self._sorted, stem), len(self._sorted)):
            text = self._sorted[index]
            if not text.startswith(stem):
                break
            same = _common_prefix(text, rest)
            if same < len(text) and same <= word_end and text[same].isalnum():
                ids.extend(self.by_text[text])
        return ids

    def word_continuing(self) -> list[int]:
        """Token ids whose text begins with a letter or digit (they would lengthen the word before)."""
        return sorted(i for text, ids in self.by_text.items() if text[0].isalnum() for i in ids)


class NameContinuation:
    """The per-request processor: while a name word is unfinished only its exact rest may follow; once
    finished, the word may not run on ("Cloudstep Shiftape")."""

    def __init__(self, names: ExactNames, pieces: TokenPieces, tokenizer: Any):
        self.names = names
        self.pieces = pieces
        self.tokenizer = tokenizer
        self._word_continuing: torch.Tensor | None = None
        self._failed = False

    def __call__(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        if not output_ids:
            return logits
        try:
            return self._step(output_ids, logits)
        except Exception:  # a bug here must cost a name's spelling, never the engine (repair still runs)
            if not self._failed:
                logger.exception("name finishing failed; this request continues without it")
            self._failed = True
            return logits

    def _step(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        step = self.names.next_step(self.tokenizer.decode(output_ids[-TAIL_TOKENS:]))
        if step.rests:
            keep = torch.tensor(
                self.pieces.continuing(set(step.rests)), dtype=torch.long, device=logits.device
            )
            return _only(logits, keep)
        drop = [i for name, size in step.early for i in self.pieces.diverging(name, size)]
        if step.word_done:
            if self._word_continuing is None:
                self._word_continuing = torch.tensor(self.pieces.word_continuing(), dtype=torch.long)
            drop.extend(self._word_continuing.tolist())
        if not drop:
            return logits
        return drop_tokens(logits, torch.tensor(drop, dtype=torch.long, device=logits.device))


def _only(logits: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Every token but ``keep`` masked, unless none of ``keep`` is possible (the grammar's limit)."""
    if keep.numel() == 0 or not bool(torch.isfinite(logits[keep]).any()):
        return logits
    kept = logits[keep].clone()
    logits.fill_(-math.inf)
    logits[keep] = kept
    return logits


def drop_tokens(logits: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
    """``drop`` (token ids or a boolean mask) masked, unless nothing else would be possible."""
    masked = logits.clone()
    masked[drop] = -math.inf
    return masked if bool(torch.isfinite(masked).any()) else logits
