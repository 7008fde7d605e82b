"""Alembic migrations of the registry, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from prompts.db import Base, make_engine
from prompts.importer import import_directory
from prompts.migrate import current_revision, downgrade, head_revision, upgrade
from prompts.models import content_hash, content_of
from prompts.registry import TemplateRegistry
from prompts.store import TEMPLATES_DIR, load_template_file

TABLES = {"templates", "template_versions", "template_labels", "label_events", "alembic_version"}


def schema_drift(url: str) -> list[object]:
    """Differences between the migrated database and the ORM models (empty: they agree)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_from_an_empty_database_matches_the_models(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision() == "0002"
    engine = make_engine(database_url)
    assert set(inspect(engine).get_table_names()) == TABLES
    engine.dispose()
    assert schema_drift(database_url) == []
    registry = TemplateRegistry.from_url(database_url)  # migrating again is a no-op
    assert len(import_directory(registry)) == 4
    registry.close()


def test_upgrade_from_the_previous_revision_keeps_and_backfills_data(database_url: str) -> None:
    upgrade(database_url, "0001")
    shipped = load_template_file(TEMPLATES_DIR / "push.toml")
    content = content_of(shipped)
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO templates (id, name, created_at, updated_at) VALUES (1, 'push', :t, :t)"),
            {"t": now},
        )
        for version, user in ((1, content["user"]), (2, content["user"].replace("Answer:", "JSON:"))):
            connection.execute(
                text(
                    "INSERT INTO template_versions (template_id, version, description, placements, variables,"
                    ' system, "user", sampling, author, message, created_at) VALUES (1, :v, :d, :p, :vars,'
                    " :s, :u, '{}', 'ana', 'old', :t)"
                ),
                {
                    "v": version,
                    "d": content["description"],
                    "p": '["push"]',
                    "vars": '["fields", "language", "product", "profile"]',
                    "s": content["system"],
                    "u": user,
                    "t": now,
                },
            )
        connection.execute(
            text(
                "INSERT INTO template_labels (template_id, label, version, updated_at, updated_by)"
                " VALUES (1, 'production', 2, :t, 'ana')"
            ),
            {"t": now},
        )
    engine.dispose()

    upgrade(database_url)
    assert current_revision(database_url) == "0002"
    assert schema_drift(database_url) == []
    registry = TemplateRegistry.from_url(database_url)
    summary = registry.get_template("push")
    assert summary.latest_version == 2 and summary.labels == {"production": 2}
    assert registry.resolve("push").user.endswith("JSON:")
    history = registry.label_history("push")
    assert [(m.label, m.previous_version, m.version, m.author) for m in history] == [
        ("production", None, 2, "ana")
    ]
    # Backfilled hashes equal the registry's: version 1 is the shipped push file, so it is not re-imported.
    assert "push@3" not in import_directory(registry)
    assert registry.get_template("push").latest_version == 2
    assert content_hash(content) == content_hash(content_of(registry.get_version("push", 1)))
    registry.close()


def count_rows(url: str, table: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        count = int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    engine.dispose()
    return count


def test_downgrade_keeps_the_data_and_upgrading_again_restores_the_schema(database_url: str) -> None:
    registry = TemplateRegistry.from_url(database_url)
    import_directory(registry)
    registry.close()
    downgrade(database_url, "0001")
    assert current_revision(database_url) == "0001"
    # SQLite rebuilds tables to drop columns: no cascade may take the versions and labels with it.
    assert (count_rows(database_url, "template_versions"), count_rows(database_url, "template_labels")) == (
        4,
        4,
    )
    upgrade(database_url)
    registry = TemplateRegistry.from_url(database_url)
    assert registry.resolve("push").ref == "push@1"
    assert import_directory(registry) == []  # the backfilled hashes match the shipped files again
    registry.close()
    downgrade(database_url, "0001")
    downgrade(database_url, "base")
    engine = make_engine(database_url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    upgrade(database_url)
    assert schema_drift(database_url) == []
