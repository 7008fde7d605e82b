"""Experiments, decisions, served creatives and events.

Revision ID: exp0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exp0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``experiments``, ``decisions``, ``decision_creatives`` and ``events``."""
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("placement", sa.String(64), nullable=False),
        sa.Column("control", sa.String(64), nullable=False),
        sa.Column("arms", sa.JSON, nullable=False),
        sa.Column("pinned", sa.JSON, nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.String(32),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("arm", sa.String(64), nullable=False),
        sa.Column("template_ref", sa.String(96), nullable=False),
        sa.Column("adapter", sa.String(48), nullable=True),
        sa.Column("unit_hash", sa.String(64), nullable=False),
        sa.Column("segment", sa.String(64), nullable=True),
        sa.Column("placement", sa.String(64), nullable=False),
        sa.Column("propensity", sa.Float, nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_decisions_experiment_arm_unit", "decisions", ["experiment_id", "arm", "unit_hash"])
    op.create_table(
        "decision_creatives",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "decision_id", sa.String(40), sa.ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_decision_creatives_decision_id", "decision_creatives", ["decision_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "experiment_id",
            sa.String(32),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "decision_id", sa.String(40), sa.ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "creative_id",
            sa.String(40),
            sa.ForeignKey("decision_creatives.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.UniqueConstraint("experiment_id", "event_id", name="uq_events_experiment_event"),
    )
    op.create_index("ix_events_decision", "events", ["decision_id"])


def downgrade() -> None:
    """Drop the experiments' tables."""
    for table in ("events", "decision_creatives", "decisions", "experiments"):
        op.drop_table(table)
