"""Run the registry's Alembic migrations from code: ``upgrade(url)`` on start, ``downgrade`` in tests.

``python -m prompts.migrate [URL] [REVISION]`` upgrades a database by hand (default: the configured one, to
``head``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from core import database
from prompts.db import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` that needs no ``alembic.ini``."""
    return database.alembic_config(MIGRATIONS_DIR, url)


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating the tables on an empty database)."""
    database.upgrade_schema(MIGRATIONS_DIR, url, revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` drops everything)."""
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Upgrade ``URL`` (default: the configured registry database) to ``REVISION`` (default: head)."""
    from prompts.settings import RegistrySettings

    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else RegistrySettings().templates_db_url
    revision = args[1] if len(args) > 1 else "head"
    upgrade(url, revision)
    print(f"{url.split('@')[-1]}: at revision {current_revision(url)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
