"""Repair copy that the length-limited grammar cut off.

vLLM's structured decoding honours ``maxLength`` by simply ending the string when the limit is hit, so
copy often ends mid-word ("…waterproof and lig"). The repair is conservative and always reported:

1. collapse whitespace (cosmetic, not counted as a repair);
2. over the platform's limit (e.g. Google's double-width count): cut at the last word boundary that fits;
3. the grammar stopped the string at its limit and it does not end in punctuation: drop the last,
   probably cut, word;
4. drop dangling fragments: a trailing connector ("and", "with", "the"…), separator or unclosed bracket.

Whatever is left is then validated again (minimum length, a letter present); a field that still fails
makes the variant a candidate for regeneration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.placements import Counting, FieldSpec, count_chars

DANGLING_WORDS = frozenset(
    (
        "a an and as at but by for from in into is are its of on or our so than that the their this to "
        "with your my & + - – — |"
    ).split()
)
_TRAILING_JUNK = " ,;:-–—/&+|(\"'“‘"
CLEAN_ENDINGS = tuple(".!?…)\"'”’")


@dataclass
class FieldRepair:
    """The repaired text of one field and what was done to it."""

    text: str
    repairs: list[str] = field(default_factory=list)


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def _fit_words(words: list[str], limit: int, counting: Counting) -> list[str]:
    kept: list[str] = []
    for word in words:
        if count_chars(" ".join([*kept, word]), counting) > limit:
            break
        kept.append(word)
    return kept


def _strip_dangling(words: list[str], repairs: list[str]) -> list[str]:
    while words:
        last = words[-1]
        stripped = last.rstrip(_TRAILING_JUNK)
        if stripped != last:
            if not stripped:
                words = words[:-1]
                repairs.append(f"dropped trailing {last!r}")
                continue
            words = [*words[:-1], stripped]
            repairs.append(f"dropped trailing {last[len(stripped) :]!r}")
            continue
        if len(words) > 1 and last.lower() in DANGLING_WORDS:
            words = words[:-1]
            repairs.append(f"dropped dangling {last!r}")
            continue
        break
    text = " ".join(words)
    for opening, closing in (("(", ")"), ("[", "]"), ("“", "”")):
        if text.count(opening) > text.count(closing):
            cut = text.rfind(opening)
            repairs.append(f"dropped unclosed {text[cut:]!r}")
            return _strip_dangling(text[:cut].split(), repairs)
    if text.count('"') % 2:
        cut = text.rfind('"')
        repairs.append("dropped unmatched quote")
        return _strip_dangling((text[:cut] + text[cut + 1 :]).split(), repairs)
    return words


def repair_field(raw: str, spec: FieldSpec, counting: Counting) -> FieldRepair:
    """Repair one field's text; see the module docstring for the steps."""
    text = normalize_whitespace(raw)
    repairs: list[str] = []
    words = text.split()
    if count_chars(text, counting) > spec.max_chars:
        kept = _fit_words(words, spec.max_chars, counting)
        repairs.append(f"cut from {count_chars(text, counting)} to the {spec.max_chars}-char limit at a word")
        words = kept
    elif len(raw) == spec.max_chars and not text.endswith(CLEAN_ENDINGS) and len(words) > 1:
        repairs.append(f"dropped cut-off word {words[-1]!r}")
        words = words[:-1]
    words = _strip_dangling(words, repairs)
    return FieldRepair(" ".join(words), repairs)


def field_problems(text: str, spec: FieldSpec, counting: Counting) -> list[str]:
    """Why ``text`` is not acceptable for ``spec`` (empty list when it is)."""
    problems = []
    length = count_chars(text, counting)
    if length > spec.max_chars:
        problems.append(f"{spec.name}: {length} chars exceeds the {spec.max_chars}-char limit")
    if length < spec.min_chars:
        problems.append(f"{spec.name}: {length} chars is under the {spec.min_chars}-char minimum")
    if not any(ch.isalpha() for ch in text):
        problems.append(f"{spec.name}: contains no words")
    return problems
