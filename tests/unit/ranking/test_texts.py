"""Profile and product as ranking text."""

from __future__ import annotations

from core.schema import Product, Profile
from ranking.texts import dedup_key, product_text, profile_text, variant_text
from tests.unit.ranking.fakes import make_variants


def test_profile_text_uses_interests_activity_and_segment_only() -> None:
    profile = Profile(
        id="u1",
        age=34,
        location="Denver",
        interests=["trail running", "hiking"],
        recent_activity=["viewed waterproof jackets", "bought socks"],
        segment="outdoor",
    )
    text = profile_text(profile)
    assert text == (
        "Interests: trail running, hiking. Recently: viewed waterproof jackets; bought socks. "
        "Segment: outdoor."
    )
    assert "Denver" not in text and "34" not in text and "u1" not in text


def test_empty_profile_is_empty_text() -> None:
    assert profile_text(Profile(id="anon", age=40)) == ""


def test_product_text() -> None:
    product = Product(
        name="TrailRunner X",
        brand="Peak",
        description="Waterproof trail running shoe.",
        features=["waterproof", "380 g"],
        price=89,
        currency="USD",
        category="footwear",
    )
    assert product_text(product) == (
        "Peak TrailRunner X (footwear). Waterproof trail running shoe. Features: waterproof, 380 g."
    )
    assert product_text(Product(name="Kettle")) == "Kettle."


def test_variant_text_and_dedup_key() -> None:
    assert variant_text(make_variants("Hello there")[0]) == "Hello there"
    fullwidth_for = "\uff26\uff2f\uff32"
    assert dedup_key(f"  Trail\tShoes  {fullwidth_for} you ") == dedup_key("trail shoes for YOU")
    assert dedup_key("trail shoes for YOU") == "trail shoes for you"
    assert dedup_key("trail shoes!") != dedup_key("trail shoes")
