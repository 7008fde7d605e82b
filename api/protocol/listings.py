"""Models of the listing routes: placements, health, adapters, experiments."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from experiments.models import ExperimentPublic


class PlacementField(BaseModel):
    """One text field of a placement and its limits."""

    name: str
    max_chars: int
    min_chars: int
    purpose: str


class PlacementInfo(BaseModel):
    """An ad surface and how its characters are counted."""

    name: str
    title: str
    counting: str = Field(description="`graphemes`, or `google_width` (double-width characters count 2).")
    spec: str
    fields: list[PlacementField]


class PlacementList(BaseModel):
    """``GET /v1/placements``."""

    object: str = "list"
    data: list[PlacementInfo]


class HealthStatus(BaseModel):
    """``GET /health``: 200 when ready, 503 otherwise."""

    status: str = Field(description="`starting`, `ready`, `failed`, `dead` or `stopped`.")
    model: str | None = None
    error: str | None = None


class AdapterInfo(BaseModel):
    """A registered LoRA adapter (its folder is not disclosed)."""

    name: str
    rank: int
    base_model_sha256: str | None
    voice: str | None = None
    metrics: list[dict[str, Any]] = Field(default_factory=list, description="Per-epoch training metrics.")
    created: str | None = None


class AdapterList(BaseModel):
    """``GET /v1/adapters``."""

    object: str = "list"
    default: str | None = Field(description="Applied when a request does not name an adapter.")
    data: list[AdapterInfo]


class AdapterRegistration(BaseModel):
    """``POST /v1/adapters``: a name and a folder inside the allowed adapter folders."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=48, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    path: str = Field(min_length=1, max_length=1024)


class ExperimentList(BaseModel):
    """``GET /v1/experiments``."""

    object: str = "list"
    data: list[ExperimentPublic]
