"""The experiments' tables, in the registry's database (their own Alembic history and version table).

- ``experiments``: one row per experiment: its arms as created, what each arm serves (pinned), the secret
  salt of its assignment hash, the policy and its status.
- ``decisions``: one row per served response in an experiment: the arm, the pinned template version and
  adapter, the unit's salted hash (never the raw id), its coarse segment, the placement, the arm's
  propensity, the policy and its version, the time.
- ``decision_creatives``: one id per served variant, unique to its decision.
- ``events``: impressions, clicks and conversions; ``(experiment_id, event_id)`` is unique, so a resent event
  is stored once.
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
    policy_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DecisionRow(Base):
    """One served response in an experiment."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_experiment_arm_unit", "experiment_id", "arm", "unit_hash"),)

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


class EventRow(Base):
    """An impression, click or conversion of a served creative."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("experiment_id", "event_id", name="uq_events_experiment_event"),
        Index("ix_events_decision", "decision_id"),
        Index("ix_events_creative_type", "creative_id", "type"),
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
