"""A spelling check for English copy: words neither in an English word list nor in the request's own text.

The fluency figure of the scorecard (share of returned variants with such a word) and a filter for
training data. Product names, brands and coined words ("cupsole", "Courtside") are known when the prompt
(product facts and profile) contains them; hyphenated compounds are checked part by part; numbers are
the faithfulness check's business, not this one's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from spellchecker import SpellChecker

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")


@cache
def _english() -> SpellChecker:
    return SpellChecker(language="en")


def load_word_list() -> None:
    """Load the English word list now (a fraction of a second) rather than on the first check."""
    _english()


def is_english_word(word: str) -> bool:
    """True when ``word`` (any case) is in the English word list."""
    return bool(word) and word.lower() in _english()


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (hyphenated parts apart, possessive 's dropped, digits skipped)."""
    out = []
    for match in _WORD.finditer(text):
        word = match.group(0).lower().replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        if word:
            out.append(word)
    return out


def unknown_words(text: str, known_texts: Iterable[str] = ()) -> list[str]:
    """Words of ``text`` in neither the English word list nor ``known_texts`` (the prompt's own words)."""
    known = {w for t in known_texts for w in words(t)}
    candidates = [w for w in words(text) if w not in known]
    if not candidates:
        return []
    unknown = _english().unknown(candidates)
    return [w for w in candidates if w in unknown]
