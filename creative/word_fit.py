"""Close a field before its limit rather than have the grammar cut its last word.

The grammar enforces a field's ``maxLength`` by ending the string when the limit is reached, so copy that
runs long ends in "…for Nur" and the repair drops the cut word and the dangling "for" (and a field that
reaches its limit without closing punctuation is always treated as cut). This per-request step of the
logits processor looks at the field being written and its room left, and drops the tokens that would
walk into that wall:

- a token that would fill the field to its limit exactly, unless it ends the copy with punctuation;
- a token that begins a new word that cannot stand at the end (a word fragment not in the English word
  list, or a connector such as "for", "and", "the") unless at least ``SLACK`` characters would be left
  to finish it.

What stays possible is closing the field, punctuation and complete words that fit. A row whose every
possibility would be dropped is left as it was (the grammar's own mask has already been applied).
Requests opt in with ``SamplingParams.extra_args[EXTRA_ARG] = {field: max_chars}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from creative.name_decoding import drop_tokens
from creative.repair import CLEAN_ENDINGS, DANGLING_WORDS

logger = logging.getLogger(__name__)

EXTRA_ARG = "adcreative_field_limits"
SLACK = 8  # characters kept free after a word fragment, to finish it
HORIZON = 32  # beyond this much room no token can reach the limit or crowd a fragment: nothing to do


def open_field(text: str) -> tuple[str, int] | None:
    """The field whose string value ``text`` (JSON being written) ends inside, and that value's length so
    far in characters; None when it ends outside a value string."""
    in_string = escaped = False
    current = ""
    key, expecting_value = "", False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
                current += char
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if expecting_value:
                    expecting_value = False
                else:
                    key = current
            else:
                current += char
        elif char == '"':
            in_string, current = True, ""
        elif char == ":":
            expecting_value = True
        elif char == ",":
            expecting_value = False
    return (key, len(current)) if in_string and expecting_value else None


@dataclass(frozen=True)
class FitTables:
    """Per vocabulary token: its text's length, whether it begins a new word that cannot end the copy
    (a fragment or a connector), whether it ends with closing punctuation, and whether it touches the
    JSON structure (a quote or backslash: the grammar's business)."""

    length: torch.Tensor
    open_word: torch.Tensor
    clean_end: torch.Tensor
    structural: torch.Tensor

    @classmethod
    def from_pieces(cls, pieces: dict[int, str], vocab_size: int) -> FitTables:
        """Tables over ``vocab_size`` ids; ids without a piece are treated as structural (never dropped)."""
        length = torch.zeros(vocab_size, dtype=torch.long)
        open_word = torch.zeros(vocab_size, dtype=torch.bool)
        clean_end = torch.zeros(vocab_size, dtype=torch.bool)
        structural = torch.ones(vocab_size, dtype=torch.bool)
        for token_id, text in pieces.items():
            if token_id >= vocab_size or not text or '"' in text or "\\" in text or "\ufffd" in text:
                continue
            structural[token_id] = False
            length[token_id] = len(text)
            clean_end[token_id] = text.rstrip().endswith(CLEAN_ENDINGS)
            open_word[token_id] = _opens_a_word(text)
        return cls(length, open_word, clean_end, structural)


def _opens_a_word(text: str) -> bool:
    """A piece that starts a new word which cannot end the copy as it is."""
    if not (text[0].isspace() and len(text) > 1 and text[1].isalnum()):
        return False
    from ranking.spelling import is_english_word  # here: the CLI's import stays free of ranking

    word = text.strip()
    if word.lower() in DANGLING_WORDS:
        return True
    return word.isalpha() and not is_english_word(word)


class FieldFit:
    """The per-request step: drop the tokens that would run the open field into its limit."""

    def __init__(self, limits: dict[str, int], tables: FitTables, tokenizer: Any):
        self.limits = limits
        self.tables = tables
        self.tokenizer = tokenizer
        self._failed = False

    def __call__(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        try:
            return self._step(output_ids, logits)
        except Exception:  # a bug here must cost a cut word at most, never the engine (repair still runs)
            if not self._failed:
                logger.exception("field fitting failed; this request continues without it")
            self._failed = True
            return logits

    def _step(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        found = open_field(self.tokenizer.decode(output_ids)) if output_ids else None
        if found is None or found[0] not in self.limits:
            return logits
        room = self.limits[found[0]] - found[1]
        if room > HORIZON:
            return logits
        t = self.tables
        size = logits.shape[-1]
        length, open_word = t.length[:size], t.open_word[:size]
        fills = (length == room) & ~t.clean_end[:size]
        crowds = open_word & (room - length < SLACK)
        drop = (fills | crowds) & ~t.structural[:size]
        if not bool(drop.any()):
            return logits
        return drop_tokens(logits, drop.to(logits.device))
