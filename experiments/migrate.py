"""Run the experiments' Alembic migrations from code (on start, like the template registry's)."""

from __future__ import annotations

from pathlib import Path

from alembic import command

from core import database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the experiments' tables at ``url`` up to ``revision`` (creating them on an empty database)."""
    database.upgrade_schema(MIGRATIONS_DIR, url, revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate down to ``revision`` (``base`` drops the experiments' tables, nothing else)."""
    command.downgrade(database.alembic_config(MIGRATIONS_DIR, url), revision)
