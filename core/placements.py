"""Placement registry: each ad placement's fields and hard character limits.

Limits follow the platforms' published specs:

* ``google_search`` — Google Ads responsive search ad: headline ≤ 30, description ≤ 90 characters.
  Google counts double-width characters (CJK ideographs, kana, Hangul, full-width forms) as **2**.
* ``meta_feed`` — Meta (Facebook/Instagram) feed ad: primary text ≤ 125, headline ≤ 40,
  description ≤ 30 (the lengths Meta shows before truncating with "See more").
* ``push`` — mobile push notification: title ≤ 50, body ≤ 120 (what iOS and Android show on the lock
  screen without truncation).
* ``email`` — email marketing: subject ≤ 60, preheader ≤ 100.

Everything except Google counts user-perceived characters: Unicode extended grapheme clusters after NFC
normalisation, so "é" written as e + combining accent is one character and a flag emoji is one.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

import regex

Counting = Literal["graphemes", "google_width"]

_GRAPHEME = regex.compile(r"\X")


def count_chars(text: str, counting: Counting) -> int:
    """Length of ``text`` as the platform counts it."""
    text = unicodedata.normalize("NFC", text)
    if counting == "google_width":
        return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
    return len(_GRAPHEME.findall(text))


@dataclass(frozen=True)
class FieldSpec:
    """One text field of a placement."""

    name: str
    max_chars: int
    min_chars: int
    purpose: str


@dataclass(frozen=True)
class Placement:
    """An ad surface: its fields, limits and how it counts characters."""

    name: str
    title: str
    fields: tuple[FieldSpec, ...]
    counting: Counting
    spec_note: str

    def field(self, name: str) -> FieldSpec:
        """The spec of field ``name``."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def json_schema(self) -> dict[str, Any]:
        """JSON schema for structured decoding: every field a required string with its maxLength.

        ``maxLength`` counts code points, which is never fewer than the platform count for graphemes;
        for Google's double-width rule the validator re-checks after decoding.
        """
        return {
            "type": "object",
            "properties": {
                spec.name: {"type": "string", "minLength": spec.min_chars, "maxLength": spec.max_chars}
                for spec in self.fields
            },
            "required": [spec.name for spec in self.fields],
            "additionalProperties": False,
        }

    def describe(self) -> dict[str, Any]:
        """Public description (used by the API's placement listing)."""
        return {
            "name": self.name,
            "title": self.title,
            "counting": self.counting,
            "spec": self.spec_note,
            "fields": [
                {"name": f.name, "max_chars": f.max_chars, "min_chars": f.min_chars, "purpose": f.purpose}
                for f in self.fields
            ],
        }


PLACEMENTS: dict[str, Placement] = {
    p.name: p
    for p in (
        Placement(
            name="google_search",
            title="Google Ads responsive search ad",
            fields=(
                FieldSpec("headline", 30, 3, "short headline shown in blue as the ad title"),
                FieldSpec("description", 90, 10, "one sentence under the headline"),
            ),
            counting="google_width",
            spec_note="headline ≤ 30, description ≤ 90; double-width characters count 2",
        ),
        Placement(
            name="meta_feed",
            title="Meta feed ad (Facebook / Instagram)",
            fields=(
                FieldSpec("primary_text", 125, 10, "the text above the image"),
                FieldSpec("headline", 40, 3, "bold line under the image"),
                FieldSpec("description", 30, 3, "small line under the headline"),
            ),
            counting="graphemes",
            spec_note="primary text ≤ 125, headline ≤ 40, description ≤ 30 before truncation",
        ),
        Placement(
            name="push",
            title="Mobile push notification",
            fields=(
                FieldSpec("title", 50, 3, "bold first line of the notification"),
                FieldSpec("body", 120, 10, "one or two short sentences"),
            ),
            counting="graphemes",
            spec_note="title ≤ 50, body ≤ 120 visible on the lock screen",
        ),
        Placement(
            name="email",
            title="Marketing email",
            fields=(
                FieldSpec("subject", 60, 3, "the subject line"),
                FieldSpec("preheader", 100, 10, "preview text shown after the subject"),
            ),
            counting="graphemes",
            spec_note="subject ≤ 60, preheader ≤ 100 shown in inbox previews",
        ),
    )
}


class UnknownPlacementError(KeyError):
    """Raised for a placement name that is not in the registry."""


def get_placement(name: str) -> Placement:
    """Look a placement up by name."""
    try:
        return PLACEMENTS[name]
    except KeyError:
        known = ", ".join(sorted(PLACEMENTS))
        raise UnknownPlacementError(f"unknown placement {name!r}; known placements: {known}") from None
