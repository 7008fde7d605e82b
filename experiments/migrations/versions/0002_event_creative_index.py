"""Index events by creative and type (a click's check for an earlier impression of its creative).

Revision ID: exp0002
Revises: exp0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "exp0002"
down_revision = "exp0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``ix_events_creative_type``."""
    op.create_index("ix_events_creative_type", "events", ["creative_id", "type"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_events_creative_type", table_name="events")
