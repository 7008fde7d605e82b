"""Product and brand names spelled exactly: a near miss in a candidate's copy is repaired to the exact name.

A misspelled product or brand ("Nimbus Noise-Canning Headphones" for the Nimbus Noise-Cancelling
Headphones, "lightdown jacket" for the Light Down Jacket) is copy no advertiser can run. The protected
names are the product's full name, its brand, every run of two or more of the name's words, and its
distinctive single words (CamelCase, a digit or a hyphen: "TrailRunner", "X200", "Noise-Cancelling").
A run of the copy's words is a near miss of a protected name when, compared case-insensitively, it is not
the name but is within a small edit distance of it (normalized Levenshtein similarity ≥ 0.8, from
rapidfuzz), and its first and last words overlap the name's (so a neighbouring word is never swallowed).
A run of as many words as the name whose differing words are all real English words chose other words
("turned compost" near Turnwell Compost, "Cloudstep suit" near Cloudstep Shift): it is left as written, since
respelling it would change what the copy says.
Names shorter than five characters are only ever matched exactly (too many real words are one edit away).
Each near miss is replaced by the name as the advertiser spells it; the caller re-checks the field's
limits afterwards (a repaired name may be longer).
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass

import regex
from rapidfuzz.distance import Levenshtein

from core.schema import Product

MIN_SIMILARITY = 0.8
MIN_CHARS = 5
EDGE_SIMILARITY = 0.5
_WORD = regex.compile(r"\S+")
_EDGE_PUNCTUATION = "\"'“”‘’«»()[]{}.,;:!?"
_POSSESSIVE = regex.compile(r"['’]s$", regex.IGNORECASE)


@dataclass(frozen=True)
class _Word:
    core: str  # the word without the punctuation around it
    start: int  # the core's span in the text
    end: int


def _edge(char: str) -> bool:
    """Punctuation, or an emoji and its joiners ("🍰Nodrest" is the name after a cake)."""
    return char in _EDGE_PUNCTUATION or unicodedata.category(char) in ("So", "Mn", "Cf")


def _words(text: str) -> list[_Word]:
    found = []
    for match in _WORD.finditer(text):
        token = match.group()
        left = next((i for i, c in enumerate(token) if not _edge(c)), len(token))
        right = next((i for i, c in enumerate(reversed(token)) if not _edge(c)), len(token))
        core = _POSSESSIVE.sub("", token[left : len(token) - right])  # "Fernwick's" is the name, possessive
        if core:
            found.append(_Word(core, match.start() + left, match.start() + left + len(core)))
    return found


def _one_phrase(text: str, words: list[_Word]) -> bool:
    """Only spaces between the words: a window across a comma or colon ("Nodrest, the pillow") is two
    phrases, never a misspelled name."""
    return all(not text[a.end : b.start].strip() for a, b in itertools.pairwise(words))


def _distinctive(word: str) -> bool:
    inner_capital = any(c.isupper() for c in word[1:])
    return len(word) >= MIN_CHARS and (inner_capital or any(c.isdigit() for c in word) or "-" in word)


def _edges_overlap(window: list[str], name: list[str]) -> bool:
    """The window's first and last words look like the name's (one may be the start of the other)."""

    def close(a: str, b: str) -> bool:
        return (
            a.startswith(b) or b.startswith(a) or Levenshtein.normalized_similarity(a, b) >= EDGE_SIMILARITY
        )

    return close(window[0], name[0]) and close(window[-1], name[-1])


def _other_real_words(window: list[str], name: list[str]) -> bool:
    """Word for word, every word that differs from the name's is an English word: chosen, not misspelled."""
    from ranking.spelling import is_english_word  # here: the CLI's import stays free of ranking

    differing = [word for word, named in zip(window, name, strict=True) if word != named]
    return bool(differing) and all(is_english_word(word) for word in differing)


@dataclass(frozen=True)
class NameGuard:
    """The names a product's copy must spell exactly, longest first."""

    names: tuple[str, ...]

    @classmethod
    def from_product(cls, product: Product) -> NameGuard:
        """The full name, the brand, runs of two or more of the name's words, its distinctive words."""
        words = product.name.split()
        found = {product.name.strip()}
        if product.brand:
            found.add(product.brand.strip())
        for size in range(2, len(words)):
            found.update(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))
        found.update(word for word in words if _distinctive(word))
        kept = [name for name in found if name]
        return cls(tuple(sorted(kept, key=lambda name: (-len(name), name))))

    def fix(self, text: str) -> tuple[str, list[str]]:
        """``text`` with every near miss replaced by the exact name; what was replaced."""
        words = _words(text)
        lowered = [w.core.lower() for w in words]
        taken: set[int] = set()
        replacements: list[tuple[int, int, str, str]] = []
        for name in self.names:
            target = name.lower().split()
            exact = {
                i + j
                for i in range(len(words) - len(target) + 1)
                if lowered[i : i + len(target)] == target
                for j in range(len(target))
            }
            taken |= exact
            if len(name) < MIN_CHARS:
                continue
            for size in (len(target), len(target) - 1, len(target) + 1):
                for start in range(len(words) - size + 1) if size >= 1 else ():
                    span = range(start, start + size)
                    if taken & set(span):
                        continue
                    window = lowered[start : start + size]
                    joined = " ".join(window)
                    if joined in (name.lower(), name.lower() + "s", name.lower() + "es"):
                        continue  # the name, or its plural
                    if not _edges_overlap(window, target) or not _one_phrase(
                        text, words[start : start + size]
                    ):
                        continue
                    if size == len(target) and _other_real_words(window, target):
                        continue
                    if Levenshtein.normalized_similarity(joined, name.lower()) >= MIN_SIMILARITY:
                        original = text[words[start].start : words[start + size - 1].end]
                        replacements.append((words[start].start, words[start + size - 1].end, name, original))
                        taken |= set(span)
        fixed = text
        for start, end, name, _ in sorted(replacements, reverse=True):
            fixed = fixed[:start] + name + fixed[end:]
        repairs = [f"spelled {original!r} as {name!r}" for _, _, name, original in sorted(replacements)]
        return fixed, repairs
