from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.paths import SOURCE_ROOT
from creative.adapters import AdapterRegistry
from creative.batch.arms import ArmsFileError, load_arms, parse_arms, resolve_arms
from creative.settings import Settings
from prompts.store import TemplateStore
from tests.unit.creative.batch.support import registry


def resolve(text: str, **settings: Any) -> list:
    return resolve_arms(parse_arms(text), TemplateStore.from_directory(), registry(), Settings(**settings))


def problems_of(text: str, **settings: object) -> list[str]:
    with pytest.raises(ArmsFileError) as caught:
        resolve(text, **settings)
    return caught.value.problems


def test_the_example_arms_file_resolves_and_pins_every_placement() -> None:
    arms = resolve_arms(
        load_arms(SOURCE_ROOT / "examples" / "arms.yaml"),
        TemplateStore.from_directory(),
        registry(),
        Settings(),
    )
    assert [a.name for a in arms] == ["base", "house", "playful-greedy"]
    for arm in arms:
        assert set(arm.templates) == {"email", "google_search", "meta_feed", "push"}
        assert all(ref is not None and "@" in ref for ref in arm.templates.values())  # labels pinned
    assert [a.adapter for a in arms] == [None, "house", "playful"]


def test_default_adapter_and_labels_are_resolved_once() -> None:
    (arm,) = resolve("arms:\n  - name: a\n    template: push:production\n")
    assert arm.adapter == "house"  # the configured default, pinned
    assert arm.templates["push"] == "push@1"
    assert arm.templates["email"] is None  # push@1 does not serve email: those rows get an error record


def test_every_problem_of_the_file_is_reported_with_arm_and_field() -> None:
    text = """
arms:
  - name: a
    temperature: 3
    colour: red
  - name: b
    n: 2
    k: 4
  - name: a
    adapter: nope
  - name: greedy
    temperature: 0
    n: 3
  - name: c
    template: nosuch@1
  - name: d
    template: {radio: push@1, email: push@1}
  - name: e
    n: 40
"""
    with pytest.raises(ArmsFileError) as caught:
        resolve(text)
    structural = caught.value.problems
    assert any("arm #1 ('a'): temperature:" in p for p in structural)
    assert any("arm #1 ('a'): colour: Extra inputs are not permitted" in p for p in structural)
    assert any("arm #2 ('b')" in p and "k=4 cannot exceed n=2" in p for p in structural)
    assert any("arm #4 ('greedy')" in p and "n must be 1" in p for p in structural)
    assert len(structural) == 4  # structure first; templates and adapters are checked once it is valid

    fixed = text.replace("    temperature: 3\n    colour: red\n", "").replace("k: 4", "k: 1")
    fixed = fixed.replace("    temperature: 0\n    n: 3\n", "")
    problems = problems_of(fixed.replace("  - name: a\n    adapter: nope", "  - name: z\n    adapter: nope"))
    assert any(p.startswith("arm 'z': adapter: unknown adapter 'nope'") for p in problems)
    assert any(p.startswith("arm 'c': template: unknown template 'nosuch'") for p in problems)
    assert any(p.startswith("arm 'd': template.radio: unknown placement") for p in problems)
    assert any(
        p.startswith("arm 'd': template.email:") and "not for placement 'email'" in p for p in problems
    )
    assert any(p.startswith("arm 'e': n: 40 exceeds the limit of 16") for p in problems)


def test_duplicate_names_are_an_error() -> None:
    problems = problems_of("arms:\n  - name: a\n  - name: a\n")
    assert problems == ["arm 'a': name: duplicate arm name"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arms: [", "not valid YAML"),
        ("- name: a\n", "exactly one key, `arms`"),
        ("arms: []\n", "non-empty list"),
        ("arms:\n  - name: 'bad name!'\n", "name: String should match pattern"),
    ],
)
def test_malformed_files(text: str, expected: str) -> None:
    with pytest.raises(ArmsFileError) as caught:
        parse_arms(text)
    assert expected in str(caught.value)


def test_adapters_are_unknown_when_lora_is_off() -> None:
    without_lora = AdapterRegistry(None, [], 16)  # what registry_from_settings builds with LoRA off
    arms = parse_arms("arms:\n  - name: a\n    adapter: house\n  - name: b\n")
    with pytest.raises(ArmsFileError) as caught:
        resolve_arms(arms, TemplateStore.from_directory(), without_lora, Settings(enable_lora=False))
    (problem,) = caught.value.problems  # arm b (default adapter) falls back to the base model
    assert problem.startswith("arm 'a': adapter: unknown adapter 'house'") and "LoRA is disabled" in problem


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArmsFileError, match="cannot read"):
        load_arms(tmp_path / "nope.yaml")


def test_a_greedy_arm_without_n_is_caught_before_any_work() -> None:
    text = "arms:\n  - name: greedy\n    adapter: null\n    temperature: 0\n    template: push@1\n"
    with pytest.raises(ArmsFileError, match=r"arm 'greedy': n: temperature 0 .* push@1 would write n=4"):
        resolve(text, default_n=4)
    (arm,) = resolve(text.replace("temperature: 0\n", "temperature: 0\n    n: 1\n"))
    assert arm.templates["push"] == "push@1"
