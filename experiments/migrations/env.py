"""Alembic environment for the experiments' tables (run through :mod:`experiments.migrate`). Their history
is kept in its own version table, beside the template registry's, in the same database."""

from __future__ import annotations

from alembic import context

from core.database import make_engine
from experiments.db import VERSION_TABLE, Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Migrate over a connection opened on the configured URL."""
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # A batch operation rebuilds the table (copy, drop, rename): with foreign keys on, dropping it
            # would cascade-delete every row that references it. Alembic's recipe: off while migrating.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            version_table=VERSION_TABLE,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
