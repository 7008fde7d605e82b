"""The experiments' tables, in the registry's database (their own Alembic history and version table).

- ``experiments``: one row per experiment: its arms as created, what each arm serves (pinned), the secret
  salt of its assignment hash, the policy and its status.
- ``decisions``: one row per served response in an experiment: the arm, the pinned template version and
  adapter, the unit's salted hash (never the raw id), its coarse segment, the placement, the arm's
  propensity, the policy and its version, the time.
- ``decision_creatives``: one id per served variant, unique to its decision.
- ``events``: impressions, clicks and conversions; ``(experiment_id, event_id)`` is unique, so a resent event
  is stored once.
- ``policy_versions``: one row per version of an experiment's policy (a period): why it began, the live arms
  and the cutoff its state was learned up to (its state is rebuilt from the stored events up to it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.database import UTCDateTime, utcnow

VERSION_TABLE = "experiments_alembic_version"


class Base(DeclarativeBase):
    """Declarative base of the experiments' tables."""


class ExperimentRow(Base):
    """An experiment."""

    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    placement: Mapped[str] = mapped_column(String(64), nullable=False)
    control: Mapped[str] = mapped_column(String(64), nullable=False)
    arms: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    pinned: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    salt: Mapped[str] = mapped_column(String(64), nullable=False)
    policy: Mapped[str] = mapped_column(String(32), nullable=False)
    policy_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # "race" for new experiments; "weighted_cdf" (and null: rows written around the ORM) the older split
    assignment: Mapped[str | None] = mapped_column(String(16), nullable=True, default="race")
    policy_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DecisionRow(Base):
    """One served response in an experiment."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_experiment_arm_unit", "experiment_id", "arm", "unit_hash"),
        Index("ix_decisions_experiment_created", "experiment_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False
    )
    arm: Mapped[str] = mapped_column(String(64), nullable=False)
    template_ref: Mapped[str] = mapped_column(String(96), nullable=False)
    adapter: Mapped[str | None] = mapped_column(String(48), nullable=True)
    unit_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    segment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    placement: Mapped[str] = mapped_column(String(64), nullable=False)
    propensity: Mapped[float] = mapped_column(Float, nullable=False)
    propensities: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    policy: Mapped[str] = mapped_column(String(32), nullable=False)
    policy_version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class CreativeRow(Base):
    """One served variant of a decision."""

    __tablename__ = "decision_creatives"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    decision_id: Mapped[str] = mapped_column(
        ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    features: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    choice_propensity: Mapped[float | None] = mapped_column(Float, nullable=True)


class EventRow(Base):
    """An impression, click or conversion of a served creative."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("experiment_id", "event_id", name="uq_events_experiment_event"),
        Index("ix_events_decision", "decision_id"),
        Index("ix_events_creative_type", "creative_id", "type"),
        Index("ix_events_experiment_received", "experiment_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False
    )
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False)
    creative_id: Mapped[str] = mapped_column(
        ForeignKey("decision_creatives.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[str] = mapped_column(String(128), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)


class PolicyVersionRow(Base):
    """One version of an experiment's policy: a period of serving with one state."""

    __tablename__ = "policy_versions"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    arms: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    observations: Mapped[int] = mapped_column(Integer, nullable=False)
    rewards: Mapped[int] = mapped_column(Integer, nullable=False)
    # what the version learned (arm tallies, the variant choice's statistics); kept for the newest versions
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
