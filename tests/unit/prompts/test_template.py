from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.placements import get_placement
from core.schema import Product, Profile
from creative.context import template_variables
from prompts.refs import TemplateRefError
from prompts.store import TemplateNotFoundError, TemplateStore
from prompts.template import PromptTemplate, TemplateError

HOSTILE = ["{__class__}", "{{", "}}", "{profile}", "{0}", "{product.__init__.__globals__}", "{{7*7}}", "%s"]


def make_template(**overrides: object) -> PromptTemplate:
    data: dict[str, object] = {
        "name": "t",
        "version": 1,
        "placements": ["push"],
        "variables": ["product", "profile"],
        "system": "Write for {profile}.",
        "user": "About {product}.",
    }
    data.update(overrides)
    return PromptTemplate.model_validate(data)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_inserted_verbatim(value: str) -> None:
    messages = make_template().render({"profile": value, "product": "shoes"})
    assert messages[0] == {"role": "system", "content": f"Write for {value}."}
    assert messages[1]["content"] == "About shoes."


def test_hostile_profile_through_the_real_templates() -> None:
    profile = Profile(
        id="u1", interests=["{__class__}", "{{x}}"], recent_activity=["{product}"], segment="}}{{"
    )
    product = Product(name="Kettle {name}", features=["{0}"])
    variables = template_variables(profile, product, get_placement("push"))
    messages = TemplateStore.from_directory().for_placement("push").render(variables)
    user = messages[1]["content"]
    for needle in ("{__class__}", "{{x}}", "{product}", "}}{{", "Kettle {name}", "{0}"):
        assert needle in user
    assert "<class" not in user


def test_missing_and_unknown_variables_are_errors() -> None:
    template = make_template()
    with pytest.raises(TemplateError, match=r"missing variables \['product'\]"):
        template.render({"profile": "x"})
    with pytest.raises(TemplateError, match=r"unknown variables \['extra'\]"):
        template.render({"profile": "x", "product": "y", "extra": "z"})


def test_declared_variables_must_match_the_text() -> None:
    with pytest.raises(ValidationError, match="used but not declared"):
        make_template(variables=["profile"])
    with pytest.raises(ValidationError, match="declared but not used"):
        make_template(variables=["product", "profile", "language"])
    with pytest.raises(ValidationError, match=r"unknown variable\(s\) \['unused'\]"):
        make_template(variables=["product", "profile", "unused"])


def test_attribute_access_in_template_text_is_rejected() -> None:
    with pytest.raises(ValidationError):
        make_template(system="{profile.__class__}", variables=["profile", "product"])


def test_extra_fields_are_forbidden() -> None:
    with pytest.raises(ValidationError, match="extra"):
        make_template(engine="jinja2")


def test_store_resolves_name_version_and_label() -> None:
    store = TemplateStore([make_template(), make_template(version=2, system="v2 {profile}")])
    assert store.resolve("t").version == 2
    assert store.resolve("t:production").version == 2
    assert store.resolve("t@1").version == 1
    with pytest.raises(TemplateNotFoundError, match="no version 3"):
        store.resolve("t@3")
    with pytest.raises(TemplateNotFoundError, match="no label 'staging'"):
        store.resolve("t:staging")
    with pytest.raises(TemplateNotFoundError, match="unknown template"):
        store.resolve("nope")
    with pytest.raises(TemplateRefError, match="malformed"):
        store.resolve("t@@1")
    with pytest.raises(TemplateError, match="not for placement 'email'"):
        store.for_placement("email", "t")


def test_store_rejects_duplicate_versions() -> None:
    with pytest.raises(TemplateError, match="duplicate"):
        TemplateStore([make_template(), make_template()])


def test_every_placement_has_a_shipped_template() -> None:
    store = TemplateStore.from_directory()
    for name in ("google_search", "meta_feed", "push", "email"):
        assert name in store.for_placement(name).placements


def test_context_leaves_out_identifiers_and_lists_facts() -> None:
    profile = Profile(id="secret-id-42", interests=["tea"], segment="home")
    product = Product(name="Kettle", price=49.5, currency="USD", features=["1.7 L"])
    variables = template_variables(profile, product, get_placement("email"))
    assert "secret-id-42" not in variables["profile"]
    assert "Price: 49.50 USD" in variables["product"]
    assert '"subject"' in variables["fields"] and "60 characters" in variables["fields"]
    assert variables["language"] == "English"


@pytest.mark.parametrize("field", ["{profile:>99999999}", "{profile!r}", "{product:.3}"])
def test_format_specs_and_conversions_are_refused(field: str) -> None:
    with pytest.raises(ValidationError, match="format specs and conversions are not allowed"):
        make_template(system=f"About {field}.")


def test_a_subset_version_renders_from_every_request_variable() -> None:
    profile = Profile(id="u1", interests=["trail running"])
    product = Product(name="TrailRunner X")
    variables = template_variables(profile, product, get_placement("push"))
    template = make_template(variables=["product"], system="Write ads.", user="About {product}.")
    messages = template.render(variables)
    assert messages == [
        {"role": "system", "content": "Write ads."},
        {"role": "user", "content": "About Name: TrailRunner X."},
    ]
    no_variables = make_template(variables=[], system="Write ads.", user="Anything.")
    assert no_variables.render(variables)[1]["content"] == "Anything."
