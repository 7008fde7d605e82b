"""Product and brand names spelled exactly: the near misses seen on held-out requests are repaired, correct
copy (and ordinary words near a name) is left alone, and the writer re-checks limits after a repair."""

from __future__ import annotations

import json

import pytest

from core.placements import PLACEMENTS
from core.schema import Product
from creative.checks import ForbiddenWords, ProductFacts
from creative.names import NameGuard
from creative.writer import assess

HEADPHONES = Product(name="Nimbus Noise-Cancelling Headphones", brand="Nimbus")
JACKET = Product(name="Light Down Jacket", brand="Alpine")
SHOE = Product(name="TrailRunner X", brand="Peak")


@pytest.mark.parametrize(
    ("product", "text", "fixed"),
    [
        (
            HEADPHONES,
            "Nimbus Noise-Canning Headphones, now quieter.",
            "Nimbus Noise-Cancelling Headphones, now quieter.",
        ),
        (HEADPHONES, "Noise-Canceling comfort all day", "Noise-Cancelling comfort all day"),
        (JACKET, "Meet the lightdown jacket.", "Meet the Light Down Jacket."),
        (JACKET, "Alpne quality, warm all winter", "Alpine quality, warm all winter"),
        (SHOE, "Peak TrailRuner X for the trail", "Peak TrailRunner X for the trail"),
        (SHOE, "Trail Runner X is here", "TrailRunner X is here"),
        (SHOE, '"TrailRuner" sale', '"TrailRunner" sale'),
        (SHOE, "✨TrailRuner X✨ is here", "✨TrailRunner X✨ is here"),  # emoji kept around the name
        (
            Product(name="Cloudstep Shift"),
            "Clothstep Shift for long shifts",
            "Cloudstep Shift for long shifts",
        ),
        (
            Product(name="Turnwell Compost Tumbler"),
            "Turnwell Compost Tumbel: done",
            "Turnwell Compost Tumbler: done",
        ),
    ],
)
def test_near_misses_are_spelled_exactly(product: Product, text: str, fixed: str) -> None:
    repaired, repairs = NameGuard.from_product(product).fix(text)
    assert repaired == fixed
    assert len(repairs) == 1 and repairs[0].startswith("spelled ")


@pytest.mark.parametrize(
    ("product", "text"),
    [
        (HEADPHONES, "New Nimbus Noise-Cancelling Headphones!"),  # exact, with a word before it
        (HEADPHONES, "nimbus headphones for you"),  # case is not spelling
        (HEADPHONES, "Keep your headphones from fading"),
        (JACKET, "A light jacket for cold days"),  # ordinary words near the name
        (JACKET, "Light Down Jackets for the whole family"),  # the plural
        (JACKET, "The light down jacket"),
        (SHOE, "Peek at the TrailRunner X"),  # the brand is short: exact or nothing
        (SHOE, "trail running shoes"),
        (HEADPHONES, "Nimbus's best headphones yet"),  # a possessive is the name
        (JACKET, "Light Down Jacket's hood packs away"),
        (Product(name="Workhand Balm"), "Workhand: a balm for cracked hands"),  # two phrases, not a typo
        (Product(name="Nodrest Travel Pillow"), "Nodrest, the pillow that folds"),
        (Product(name="Turnwell Compost"), "Feed your beds turned compost"),  # other real words, not typos
        (
            Product(name="Nodrest Travel Pillow"),
            "🍰Nodrest Travel Pillow, sweet dreams",
        ),  # an emoji is no typo
        (Product(name="Cloudstep Shift"), "A Cloudstep suit for the night shift"),
    ],
)
def test_correct_copy_and_ordinary_words_are_left_alone(product: Product, text: str) -> None:
    assert NameGuard.from_product(product).fix(text) == (text, [])


def test_the_writer_repairs_a_name_and_then_checks_the_limits() -> None:
    placement = PLACEMENTS["google_search"]
    facts, forbidden = ProductFacts.from_product(HEADPHONES), ForbiddenWords(())
    names = NameGuard.from_product(HEADPHONES)
    raw = json.dumps({"headline": "Nimbus Noise-Canning", "description": "Quiet calls, deep bass, all day."})
    assessed = assess(raw, placement, facts, forbidden, names)
    assert assessed.ok and assessed.fields is not None
    assert assessed.fields["headline"] == "Nimbus Noise-Cancelling"
    assert assessed.repairs == ["headline: spelled 'Nimbus Noise-Canning' as 'Nimbus Noise-Cancelling'"]
    limit = placement.fields[0].max_chars
    long = "x" * (limit - len("Noise-Canning") - 1) + " Noise-Canning"  # fits, but the exact name does not
    body = {"headline": long, "description": "Quiet calls, deep bass, all day."}
    cut = assess(json.dumps(body), placement, facts, forbidden, names)
    assert cut.ok and cut.fields is not None  # the repaired name did not fit: cut at a word, never misspelled
    assert "Canning" not in cut.fields["headline"] and len(cut.fields["headline"]) <= limit
