"""The template registry on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from prompts.importer import IMPORT_AUTHOR, import_directory
from prompts.models import StaleLabelError, StaleVersionError, TemplateValidationError, VersionDraft
from prompts.refs import TemplateNotFoundError
from prompts.registry import TemplateRegistry
from prompts.store import TEMPLATES_DIR


@pytest.fixture
def registry(database_url: str) -> Iterator[TemplateRegistry]:
    registry = TemplateRegistry.from_url(database_url)
    import_directory(registry)
    yield registry
    registry.close()


def edit(registry: TemplateRegistry, ref: str, message: str = "edit", **changes: object) -> VersionDraft:
    """A draft that starts from ``ref`` with ``changes`` applied."""
    version = registry.resolve_version(ref)
    fields = {
        key: getattr(version, key) for key in ("description", "placements", "variables", "system", "user")
    }
    data = {"base_version": version.version, "sampling": version.sampling, "message": message, **fields}
    return VersionDraft.model_validate({**data, **changes})


def test_shipped_templates_are_imported_once_with_a_production_label(registry: TemplateRegistry) -> None:
    names = [t.name for t in registry.list_templates()]
    assert names == ["email", "google_search", "meta_feed", "push"]
    assert import_directory(registry) == []  # idempotent
    summary = registry.get_template("google_search")
    assert summary.latest_version == 1 and summary.labels == {"production": 1}
    version = registry.get_version("google_search", 1)
    assert version.author == IMPORT_AUTHOR and "google_search.toml" in version.message
    assert version.labels == ["production"]


def test_references_resolve_by_label_version_and_default_label(registry: TemplateRegistry) -> None:
    v2 = registry.create_version("push", edit(registry, "push", user="{product}\n{profile}\nJSON:"), "ana")
    registry.move_label("push", "staging", v2.version, author="ana")
    assert registry.resolve("push").ref == "push@1"
    assert registry.resolve("push:production").ref == "push@1"
    assert registry.resolve("push:staging").ref == "push@2"
    assert registry.resolve("push@2").user.endswith("JSON:")
    assert registry.for_placement("push").ref == "push@1"
    with pytest.raises(TemplateNotFoundError, match="no label 'canary'"):
        registry.resolve("push:canary")
    with pytest.raises(TemplateNotFoundError, match="no version 9"):
        registry.resolve("push@9")
    with pytest.raises(TemplateNotFoundError, match="unknown template 'nope'"):
        registry.resolve("nope")


def test_versions_are_immutable_and_numbered(registry: TemplateRegistry) -> None:
    before = registry.get_version("email", 1)
    registry.create_version("email", edit(registry, "email@1", description="Shorter subject"), "ana")
    registry.create_version("email", edit(registry, "email@2", description="Shorter again"), "bo")
    versions = registry.list_versions("email")
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[0] == before.model_copy(update={"labels": ["production"]})
    assert [v.author for v in versions] == [IMPORT_AUTHOR, "ana", "bo"]


def test_a_stale_save_is_refused_not_lost(registry: TemplateRegistry) -> None:
    mine = edit(registry, "meta_feed@1", message="mine", description="mine")
    theirs = edit(registry, "meta_feed@1", message="theirs", description="theirs")
    registry.create_version("meta_feed", theirs, "theirs")
    with pytest.raises(StaleVersionError, match="version 2 was saved meanwhile") as caught:
        registry.create_version("meta_feed", mine, "me")
    assert caught.value.current == 2
    assert [v.message for v in registry.list_versions("meta_feed")][-1] == "theirs"


def test_concurrent_saves_from_one_base_have_exactly_one_winner(registry: TemplateRegistry) -> None:
    drafts = [edit(registry, "email@1", message=f"edit {i}", description=f"d{i}") for i in range(6)]
    start = threading.Barrier(len(drafts))
    outcomes: list[str] = []

    def save(draft: VersionDraft) -> None:
        start.wait()
        try:
            registry.create_version("email", draft, draft.message)
            outcomes.append("saved")
        except StaleVersionError:
            outcomes.append("stale")

    threads = [threading.Thread(target=save, args=(d,)) for d in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["saved"] + ["stale"] * 5
    assert [v.version for v in registry.list_versions("email")] == [1, 2]


def test_a_misspelt_variable_is_named_with_a_suggestion(registry: TemplateRegistry) -> None:
    with pytest.raises(TemplateValidationError, match=r"\{prodcut\}.*did you mean \{product\}") as caught:
        registry.create_version("push", edit(registry, "push", user="{prodcut} for {profile}"), "ana")
    assert caught.value.param == "user" and caught.value.code == "unknown_variable"
    assert registry.get_template("push").latest_version == 1  # nothing half-written


@pytest.mark.parametrize(
    ("changes", "param", "code"),
    [
        ({"variables": ["fields", "language", "product"]}, "variables", "undeclared_variable"),
        ({"variables": ["fields", "language", "product", "profile", "age"]}, "variables", "unknown_variable"),
        ({"user": "{product} {profile} {"}, "user", "invalid_syntax"),
        ({"placements": ["tiktok"]}, "placements", "unknown_placement"),
        ({"user": "{product:>99999999} {profile}"}, "user", "invalid_syntax"),
    ],
)
def test_invalid_drafts_name_the_field(
    registry: TemplateRegistry, changes: dict[str, Any], param: str, code: str
) -> None:
    with pytest.raises(TemplateValidationError) as caught:
        registry.create_version("google_search", edit(registry, "google_search", **changes), "ana")
    assert (caught.value.param, caught.value.code) == (param, code)


def test_nul_characters_are_refused_before_any_backend_sees_them(registry: TemplateRegistry) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        edit(registry, "push", user="{product}\x00 {profile}")


def test_declared_but_unused_variable_is_refused(registry: TemplateRegistry) -> None:
    draft = edit(registry, "push", user="{product}")  # {profile} still declared, no longer used
    with pytest.raises(TemplateValidationError, match="not used") as caught:
        registry.create_version("push", draft, "ana")
    assert caught.value.code == "unused_variable"


def test_new_template_and_racing_creation(registry: TemplateRegistry) -> None:
    draft = edit(registry, "push", message="first", base_version=None)
    created = registry.create_version("push_winback", draft, "ana")
    assert created.ref == "push_winback@1" and created.labels == []
    with pytest.raises(StaleVersionError, match="already exists"):
        registry.create_version("push_winback", draft, "bo")
    with pytest.raises(TemplateNotFoundError, match="no label 'production'"):
        registry.resolve("push_winback")


def test_labels_ship_and_roll_back_with_history(registry: TemplateRegistry) -> None:
    registry.create_version("push", edit(registry, "push", user="{product}! {profile}"), "ana")
    registry.move_label("push", "production", 2, author="ana", expected_version=1)
    assert registry.resolve("push").version == 2
    with pytest.raises(StaleLabelError, match="points at version 2 now") as caught:
        registry.move_label("push", "production", 1, author="bo", expected_version=1)
    assert caught.value.current == 2
    rollback = registry.move_label("push", "production", 1, author="bo", expected_version=2)
    assert (rollback.previous_version, rollback.version) == (2, 1)
    assert registry.resolve("push").version == 1  # the cache never hides a label move
    history = registry.label_history("push")
    assert [(m.label, m.previous_version, m.version, m.author) for m in history] == [
        ("production", 2, 1, "bo"),
        ("production", 1, 2, "ana"),
        ("production", None, 1, IMPORT_AUTHOR),
    ]
    with pytest.raises(TemplateNotFoundError, match="no version 7"):
        registry.move_label("push", "production", 7, author="bo")
    with pytest.raises(TemplateValidationError, match="label 'Prod!'"):
        registry.move_label("push", "Prod!", 1, author="bo")


def test_diff_shows_only_changed_fields(registry: TemplateRegistry) -> None:
    registry.create_version(
        "push", edit(registry, "push", user="{product}\n{profile}\nJSON:", description="x"), "ana"
    )
    diff = registry.diff("push", 1, 2)
    assert diff.changed == ["description", "user"]
    assert "+JSON:" in diff.fields["user"] and "--- push@1 user" in diff.fields["user"]
    assert diff.unified.startswith("--- push@1\n+++ push@2\n")
    assert registry.diff("push", 2, 2).changed == []


def test_a_changed_shipped_file_adds_a_version_but_never_moves_production(
    registry: TemplateRegistry, tmp_path: Path
) -> None:
    shipped = (TEMPLATES_DIR / "push.toml").read_text()
    (tmp_path / "push.toml").write_text(
        shipped.replace("version = 1", "version = 2").replace("Answer:", "JSON:")
    )
    assert import_directory(registry, tmp_path) == ["push@2"]
    assert import_directory(registry, tmp_path) == []
    assert registry.resolve("push").version == 1


def test_another_workers_label_move_is_seen_within_the_label_ttl(
    registry: TemplateRegistry, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("prompts.label_cache.time.monotonic", lambda: clock[0])
    worker = TemplateRegistry.from_url(database_url, label_ttl_s=5.0)
    assert worker.resolve("push").version == 1
    registry.create_version("push", edit(registry, "push", user="{product}! {profile}"), "ana")
    registry.move_label("push", "production", 2, author="ana")
    assert registry.resolve("push").version == 2  # the mover sees its own move at once
    assert worker.resolve("push").version == 1  # the other worker's cached label…
    clock[0] += 5.1
    assert worker.resolve("push").version == 2  # …expires after label_ttl_s
    worker.close()
