"""``GET /v1/placements``: the ad surfaces, their fields and limits."""

from __future__ import annotations

from fastapi import APIRouter

from api.protocol import PlacementInfo, PlacementList
from core.placements import PLACEMENTS

router = APIRouter(prefix="/v1", tags=["placements"])


@router.get("/placements", response_model=PlacementList)
async def list_placements() -> PlacementList:
    """Every placement with its fields, character limits and counting rule."""
    return PlacementList(data=[PlacementInfo.model_validate(p.describe()) for p in PLACEMENTS.values()])
