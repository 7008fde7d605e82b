"""Templates, immutable versions and labels.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``templates``, ``template_versions`` and ``template_labels``."""
    op.create_table(
        "templates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "template_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "template_id", sa.Integer, sa.ForeignKey("templates.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("placements", sa.JSON, nullable=False),
        sa.Column("variables", sa.JSON, nullable=False),
        sa.Column("system", sa.Text, nullable=False),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("sampling", sa.JSON, nullable=False),
        sa.Column("author", sa.String(120), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("template_id", "version", name="uq_template_version"),
    )
    op.create_table(
        "template_labels",
        sa.Column(
            "template_id",
            sa.Integer,
            sa.ForeignKey("templates.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("label", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("template_labels")
    op.drop_table("template_versions")
    op.drop_table("templates")
