"""What gets embedded: the profile, the product facts and each variant as plain text."""

from __future__ import annotations

import re
import unicodedata

from core.schema import Product, Profile, Variant

_SPACE = re.compile(r"\s+")


def profile_text(profile: Profile) -> str:
    """The audience as one sentence-like text (interests, recent activity, segment); "" when none."""
    parts = []
    if profile.interests:
        parts.append("Interests: " + ", ".join(profile.interests) + ".")
    if profile.recent_activity:
        parts.append("Recently: " + "; ".join(profile.recent_activity) + ".")
    if profile.segment:
        parts.append(f"Segment: {profile.segment}.")
    return " ".join(parts)


def product_text(product: Product) -> str:
    """The product facts that carry meaning (name, brand, category, description, features)."""
    head = product.name if not product.brand else f"{product.brand} {product.name}"
    parts = [head + (f" ({product.category})." if product.category else ".")]
    if product.description:
        parts.append(product.description.rstrip(".") + ".")
    if product.features:
        parts.append("Features: " + ", ".join(product.features) + ".")
    return " ".join(parts)


def variant_text(variant: Variant) -> str:
    """All fields of a variant joined, as embedded and scored."""
    return variant.text


def dedup_key(text: str) -> str:
    """Key under which two texts are exact duplicates: NFKC, case-folded, whitespace collapsed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
