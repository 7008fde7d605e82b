from __future__ import annotations

import pytest

from core.schema import Product
from creative.checks import ForbiddenWords, ProductFacts, find_numbers, parse_number

PRODUCT = Product(
    name="TrailRunner X",
    brand="Peak",
    description="Waterproof trail shoe, 20% lighter than the TrailRunner 2",
    features=["waterproof", "380 g", "1,200 km tested"],
    price=89,
    currency="USD",
)


@pytest.mark.parametrize(
    ("token", "value"),
    [("89", 89.0), ("89.00", 89.0), ("1,200", 1200.0), ("1.200,50", 1200.5), ("4,5", 4.5)],
)
def test_parse_number(token: str, value: float) -> None:
    assert parse_number(token) == value


def test_find_numbers_classifies_kinds() -> None:
    kinds = {(m.value, m.kind) for m in find_numbers("Save 20% now: only $89, 380g light, 49 USD")}
    assert kinds == {(20.0, "percent"), (89.0, "money"), (380.0, "number"), (49.0, "money")}


@pytest.mark.parametrize(
    "text",
    [
        "Only $89 for the TrailRunner X",
        "89 USD, 380 g, waterproof",
        "20% lighter than before",
        "Tested over 1200 km",
        "Now $89.00",
        "The TrailRunner 2 successor",
        "No numbers at all",
    ],
)
def test_supported_numbers_pass(text: str) -> None:
    assert ProductFacts.from_product(PRODUCT).unsupported(text) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Now only $79", "price '$79'"),
        ("Save 30% today", "percentage '30%'"),
        ("Rated 5 stars", "number '5'"),
        ("380% better", "percentage '380%'"),
        ("Just 89% of the price", "percentage '89%'"),
        ("Only 20 USD", "price '20 USD'"),
    ],
)
def test_invented_numbers_fail(text: str, fragment: str) -> None:
    reasons = ProductFacts.from_product(PRODUCT).unsupported(text)
    assert len(reasons) == 1
    assert fragment in reasons[0]


def test_product_without_price_allows_no_money() -> None:
    facts = ProductFacts.from_product(Product(name="Plain Mug"))
    assert facts.unsupported("Only $5") == ["price '$5' is not in the product facts"]


def test_forbidden_words_whole_word_case_insensitive() -> None:
    words = ForbiddenWords.combine(["guaranteed", "risk-free", "act now"], ["cheap"])
    assert words.found("GUARANTEED results, Risk-Free! Act now.") == ["guaranteed", "risk-free", "act now"]
    assert words.found("A cheapskate's dream") == []  # not a whole word
    assert words.found("So cheap.") == ["cheap"]
    assert ForbiddenWords(()).found("anything") == []
