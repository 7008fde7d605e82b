"""The experiments' Alembic history beside the registry's in one database (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from core.database import make_engine
from experiments import migrate
from experiments.db import VERSION_TABLE, Base
from prompts import migrate as registry_migrate

EXPERIMENT_TABLES = {
    "experiments",
    "decisions",
    "decision_creatives",
    "events",
    "policy_versions",
    VERSION_TABLE,
}


def _ours(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    return kind != "table" or name in EXPERIMENT_TABLES


def test_both_histories_share_a_database_and_the_models_match(database_url: str) -> None:
    registry_migrate.upgrade(database_url)
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert tables >= EXPERIMENT_TABLES and "template_versions" in tables and "alembic_version" in tables
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": _ours, "version_table": VERSION_TABLE}
            )
            assert context.get_current_revision() == "exp0003"
            drift = [d for d in compare_metadata(context, Base.metadata) if d[0] != "remove_table"]
        assert drift == []
        migrate.downgrade(database_url, "base")  # the experiments' tables go, the registry's stay
        remaining = set(inspect(engine).get_table_names())
        assert not (EXPERIMENT_TABLES - {VERSION_TABLE}) & remaining and "template_versions" in remaining
    finally:
        engine.dispose()
