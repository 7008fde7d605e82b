"""``POST /v1/creatives``: write variants for one profile × product × placement."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import WriterDep
from creative.schema import CreativeRequest, CreativeResult

router = APIRouter(prefix="/v1", tags=["creatives"])


@router.post("/creatives", response_model=CreativeResult)
async def create_creatives(body: CreativeRequest, writer: WriterDep) -> CreativeResult:
    """Generate ``n`` checked variants (if the client disconnects, the generation is cancelled)."""
    return await writer.write(body, request_id=f"cr-{uuid.uuid4().hex[:16]}")
