"""Optimistic concurrency token, content hashes for idempotent imports, and the label history.

- ``templates.latest_version``: the version a save must start from (backfilled from the versions).
- ``template_versions.content_hash``: sha256 of the version's content (backfilled), so importing the
  shipped files twice never creates a duplicate version.
- ``label_events``: every label move; existing labels get one event each.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CONTENT_FIELDS = ("description", "placements", "variables", "system", "user", "sampling")
_JSON_FIELDS = {"placements", "variables", "sampling"}


def _content_hash(row: dict[str, Any]) -> str:
    # A frozen copy of prompts.registry.content_hash as of this revision (migrations never import app code).
    payload = {key: row[key] for key in _CONTENT_FIELDS}
    payload["sampling"] = {k: v for k, v in sorted((payload["sampling"] or {}).items()) if v is not None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def upgrade() -> None:
    """Add the columns and table, then backfill them from the existing rows."""
    with op.batch_alter_table("templates") as batch:
        batch.add_column(sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("template_versions") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(64), nullable=False, server_default=""))
        batch.create_index("ix_template_versions_content_hash", ["content_hash"])
    op.create_table(
        "label_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "template_id", sa.Integer, sa.ForeignKey("templates.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=False),
        sa.Column("author", sa.String(120), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
    )

    bind = op.get_bind()
    versions = sa.table(
        "template_versions",
        sa.column("id", sa.Integer),
        sa.column("template_id", sa.Integer),
        sa.column("version", sa.Integer),
        sa.column("content_hash", sa.String),
        *(sa.column(name, sa.JSON if name in _JSON_FIELDS else sa.Text) for name in _CONTENT_FIELDS),
    )
    templates = sa.table("templates", sa.column("id", sa.Integer), sa.column("latest_version", sa.Integer))
    labels = sa.table(
        "template_labels",
        sa.column("template_id", sa.Integer),
        sa.column("label", sa.String),
        sa.column("version", sa.Integer),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("updated_by", sa.String),
    )
    events = sa.table(
        "label_events",
        sa.column("template_id", sa.Integer),
        sa.column("label", sa.String),
        sa.column("from_version", sa.Integer),
        sa.column("to_version", sa.Integer),
        sa.column("author", sa.String),
        sa.column("moved_at", sa.DateTime(timezone=True)),
    )
    for row in bind.execute(sa.select(versions)).mappings().all():
        bind.execute(
            versions.update().where(versions.c.id == row["id"]).values(content_hash=_content_hash(dict(row)))
        )
    latest = (
        sa.select(sa.func.coalesce(sa.func.max(versions.c.version), 0))
        .where(versions.c.template_id == templates.c.id)
        .scalar_subquery()
    )
    bind.execute(templates.update().values(latest_version=latest))
    for row in bind.execute(sa.select(labels)).mappings().all():
        bind.execute(
            events.insert().values(
                template_id=row["template_id"],
                label=row["label"],
                from_version=None,
                to_version=row["version"],
                author=row["updated_by"],
                moved_at=row["updated_at"],
            )
        )


def downgrade() -> None:
    """Drop the history and the two columns."""
    op.drop_table("label_events")
    with op.batch_alter_table("template_versions") as batch:
        batch.drop_index("ix_template_versions_content_hash")
        batch.drop_column("content_hash")
    with op.batch_alter_table("templates") as batch:
        batch.drop_column("latest_version")
