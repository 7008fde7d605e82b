"""Turn a request into the template variables: profile, product and field guide as plain text.

Values are untrusted; they are only ever inserted as text by the f-string renderer.
"""

from __future__ import annotations

from core.placements import Placement
from core.schema import Product, Profile
from prompts.refs import TemplateSource

LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ja": "Japanese",
    "zh": "Chinese",
    "ko": "Korean",
}


def _format_amount(price: float) -> str:
    return f"{price:.2f}".removesuffix(".00")


def profile_prompt_text(profile: Profile) -> str:
    """The audience as short labelled lines (identifiers are left out)."""
    lines = []
    if profile.interests:
        lines.append("Interests: " + ", ".join(profile.interests))
    if profile.recent_activity:
        lines.append("Recently: " + "; ".join(profile.recent_activity))
    if profile.segment:
        lines.append(f"Segment: {profile.segment}")
    if profile.location:
        lines.append(f"Location: {profile.location}")
    if profile.age is not None:
        lines.append(f"Age: {profile.age}")
    return "\n".join(lines) or "General audience"


def product_prompt_text(product: Product) -> str:
    """The product facts as short labelled lines: the only facts the copy may state."""
    lines = [f"Name: {product.name}"]
    if product.brand:
        lines.append(f"Brand: {product.brand}")
    if product.category:
        lines.append(f"Category: {product.category}")
    if product.description:
        lines.append(f"Description: {product.description}")
    if product.features:
        lines.append("Features: " + "; ".join(product.features))
    if product.price is not None:
        currency = f" {product.currency}" if product.currency else ""
        lines.append(f"Price: {_format_amount(product.price)}{currency}")
    return "\n".join(lines)


def fields_text(placement: Placement) -> str:
    """One line per output field with its purpose and limit."""
    return "\n".join(
        f'- "{spec.name}": {spec.purpose}, at most {spec.max_chars} characters' for spec in placement.fields
    )


def prompt_text(templates: TemplateSource, profile: Profile, product: Product, placement: Placement) -> str:
    """The rendered prompt (every message's text) of the placement's template: what novelty is measured
    against."""
    messages = templates.for_placement(placement.name).render(template_variables(profile, product, placement))
    return "\n".join(m["content"] for m in messages)


def template_variables(profile: Profile, product: Product, placement: Placement) -> dict[str, str]:
    """All variables the shipped templates declare."""
    return {
        "profile": profile_prompt_text(profile),
        "product": product_prompt_text(product),
        "fields": fields_text(placement),
        "language": LANGUAGE_NAMES.get(profile.language.split("-")[0], profile.language),
    }
