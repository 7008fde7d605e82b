"""The experiments' Alembic history beside the registry's in one database (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from core.database import make_engine
from experiments import migrate
from experiments.arm_changes import ArmChangeError
from experiments.assignment import assign_arm
from experiments.db import VERSION_TABLE, Base
from experiments.store import ExperimentStore
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


def _seed_exp0002(url: str) -> None:
    """An experiment, a decision, a creative and an event written at exp0002 (before policies)."""
    migrate.upgrade(url, "exp0002")
    engine = make_engine(url)
    arms = '[{"name": "a", "weight": 1.0}, {"name": "b", "weight": 3.0}]'
    pinned = (
        '[{"name": "a", "template": "google_search@1", "adapter": null, "propensity": 0.25}, '
        '{"name": "b", "template": "google_search@1", "adapter": null, "propensity": 0.75}]'
    )
    at = "2026-12-01 10:00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiments (id, name, description, placement, control, arms, pinned, salt, "
                "policy, policy_version, status, created_by, created_at) VALUES ('exp_00000000000000aa', "
                f"'old', '', 'google_search', 'a', :arms, :pinned, '{'ab' * 32}', 'fixed_split', 1, "
                f"'running', 't', '{at}')"
            ),
            {"arms": arms, "pinned": pinned},
        )
        connection.execute(
            text(
                "INSERT INTO decisions (id, experiment_id, arm, template_ref, adapter, unit_hash, segment, "
                "placement, propensity, policy, policy_version, created_at) VALUES ('dec_1', "
                f"'exp_00000000000000aa', 'b', 'google_search@1', NULL, 'h', NULL, 'google_search', 0.75, "
                f"'fixed_split', 1, '{at}')"
            )
        )
        connection.execute(
            text("INSERT INTO decision_creatives (id, decision_id, position) VALUES ('cr_1', 'dec_1', 0)")
        )
        connection.execute(
            text(
                "INSERT INTO events (experiment_id, decision_id, creative_id, event_id, type, event_time, "
                "received_at) VALUES ('exp_00000000000000aa', 'dec_1', 'cr_1', 'e1', 'impression', "
                f"'{at}', '{at}')"
            )
        )
    engine.dispose()


def _counts(url: str) -> list[int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        found = [
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("experiments", "decisions", "decision_creatives", "events")
        ]
    engine.dispose()
    return found


def test_an_upgrade_keeps_the_data_and_the_old_split_and_a_downgrade_keeps_the_data(
    database_url: str,
) -> None:
    _seed_exp0002(database_url)
    migrate.upgrade(database_url)
    assert _counts(database_url) == [1, 1, 1, 1]
    store = ExperimentStore.from_url(database_url)
    try:
        salt, units = "ab" * 32, [f"user-{i}" for i in range(40)]
        served = [store.assign("exp_00000000000000aa", u, "google_search", None).arm.name for u in units]
        expected = [["a", "b"][assign_arm(salt, "exp_00000000000000aa", u, [1.0, 3.0])] for u in units]
        assert served == expected  # the cumulative-weights split of before: nobody moved
        with pytest.raises(ArmChangeError, match="created before arms could change"):
            store.retire_arm("exp_00000000000000aa", "b")
    finally:
        store.close()
    migrate.downgrade(database_url, "exp0002")  # SQLite rebuilds tables here: nothing may cascade
    assert _counts(database_url) == [1, 1, 1, 1]
