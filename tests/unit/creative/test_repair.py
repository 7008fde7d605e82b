from __future__ import annotations

from core.placements import FieldSpec, get_placement
from creative.repair import field_problems, repair_field

HEADLINE = FieldSpec("headline", 30, 3, "headline")
DESCRIPTION = FieldSpec("description", 90, 10, "description")


def test_clean_text_is_untouched() -> None:
    fixed = repair_field("Trail shoes that stay dry", HEADLINE, "google_width")
    assert fixed.text == "Trail shoes that stay dry"
    assert fixed.repairs == []


def test_whitespace_is_normalized_silently() -> None:
    fixed = repair_field("  Trail   shoes\n that stay dry ", HEADLINE, "google_width")
    assert fixed.text == "Trail shoes that stay dry"
    assert fixed.repairs == []


def test_grammar_cut_drops_the_half_word() -> None:
    raw = "Waterproof shoes for every tra"  # exactly 30: the grammar stopped mid-word
    assert len(raw) == 30
    fixed = repair_field(raw, HEADLINE, "google_width")
    assert fixed.text == "Waterproof shoes for every"
    assert fixed.repairs == ["dropped cut-off word 'tra'"]


def test_grammar_cut_then_dangling_connectors() -> None:
    raw = "Light waterproof shoes for the"
    assert len(raw) == 30
    fixed = repair_field(raw, HEADLINE, "google_width")
    assert fixed.text == "Light waterproof shoes"
    assert fixed.repairs == ["dropped cut-off word 'the'", "dropped dangling 'for'"]


def test_grammar_cut_at_punctuation_is_kept() -> None:
    raw = "Dry feet on every trail. Go!!"
    raw = raw + "." * (30 - len(raw))
    fixed = repair_field(raw, HEADLINE, "google_width")
    assert fixed.text == raw


def test_over_limit_google_width_is_cut_at_a_word() -> None:
    raw = "防水 トレイル シューズ 新登場 今すぐ"  # fits 30 code points, not 30 Google units
    fixed = repair_field(raw, HEADLINE, "google_width")
    assert field_problems(fixed.text, HEADLINE, "google_width") == []
    assert fixed.text == "防水 トレイル シューズ 新登場"
    assert fixed.repairs and "limit" in fixed.repairs[0]


def test_dangling_connectors_and_separators_are_dropped() -> None:
    fixed = repair_field("Light, dry and fast, with", DESCRIPTION, "graphemes")
    assert fixed.text == "Light, dry and fast"
    fixed = repair_field("Peak TrailRunner X -", DESCRIPTION, "graphemes")
    assert fixed.text == "Peak TrailRunner X"


def test_unclosed_bracket_is_dropped() -> None:
    fixed = repair_field("Stay dry on the trail (now in", DESCRIPTION, "graphemes")
    assert fixed.text == "Stay dry on the trail"


def test_problems_report_short_and_wordless_text() -> None:
    assert field_problems("ok", HEADLINE, "google_width") == ["headline: 2 chars is under the 3-char minimum"]
    assert field_problems("12345", HEADLINE, "google_width") == ["headline: contains no words"]


def test_every_shipped_placement_repairs_within_limits() -> None:
    for name in ("google_search", "meta_feed", "push", "email"):
        placement = get_placement(name)
        for spec in placement.fields:
            raw = ("word " * 60)[: spec.max_chars]
            fixed = repair_field(raw, spec, placement.counting)
            assert field_problems(fixed.text, spec, placement.counting) == []
