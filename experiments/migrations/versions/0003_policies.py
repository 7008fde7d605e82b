"""Adaptive policies: the policy spec and assignment scheme per experiment, every arm's propensity per
decision, the policy's versions (periods), and the within-request choice per served creative.

Revision ID: exp0003
Revises: exp0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exp0003"
down_revision = "exp0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns and ``policy_versions``; experiments created before keep the cumulative-weights
    assignment (``weighted_cdf``), so none of their units moves."""
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("policy_spec", sa.JSON, nullable=True))
        batch.add_column(sa.Column("assignment", sa.String(16), nullable=True))
    op.execute("UPDATE experiments SET assignment = 'weighted_cdf'")
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("propensities", sa.JSON, nullable=True))
    with op.batch_alter_table("decision_creatives") as batch:
        batch.add_column(sa.Column("features", sa.JSON, nullable=True))
        batch.add_column(sa.Column("choice_propensity", sa.Float, nullable=True))
    op.create_table(
        "policy_versions",
        sa.Column(
            "experiment_id",
            sa.String(32),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("arms", sa.JSON, nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observations", sa.Integer, nullable=False),
        sa.Column("rewards", sa.Integer, nullable=False),
        sa.Column("state", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_events_experiment_received", "events", ["experiment_id", "received_at"])
    op.create_index("ix_decisions_experiment_created", "decisions", ["experiment_id", "created_at"])


def downgrade() -> None:
    """Drop them again (on SQLite the env turns foreign keys off, so no table rebuild cascades)."""
    op.drop_index("ix_decisions_experiment_created", table_name="decisions")
    op.drop_index("ix_events_experiment_received", table_name="events")
    op.drop_table("policy_versions")
    with op.batch_alter_table("decision_creatives") as batch:
        batch.drop_column("choice_propensity")
        batch.drop_column("features")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("propensities")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("assignment")
        batch.drop_column("policy_spec")
