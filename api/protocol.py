"""Response models of the listing routes (the creatives route answers with ``creative.schema`` models)."""

from __future__ import annotations

from pydantic import BaseModel, Field


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


class TemplateInfo(BaseModel):
    """One template version (its text included, so a client can show what the model is asked)."""

    name: str
    version: int
    ref: str = Field(description="`name@version`, usable as a request's `template`.")
    description: str
    placements: list[str]
    variables: list[str]
    system: str
    user: str


class TemplateList(BaseModel):
    """``GET /v1/templates``."""

    object: str = "list"
    data: list[TemplateInfo]


class HealthStatus(BaseModel):
    """``GET /health``: 200 when ready, 503 otherwise."""

    status: str = Field(description="`starting`, `ready`, `failed`, `dead` or `stopped`.")
    model: str | None = None
    error: str | None = None
