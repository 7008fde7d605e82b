"""``GET /health``: 200 when the engine is ready, 503 while starting or after it died."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep
from api.protocol import HealthStatus

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthStatus, responses={503: {"model": HealthStatus}})
async def health(state: StateDep) -> JSONResponse:
    """Engine status; load balancers should only route to a 200."""
    if state.status == "ready" and state.engine is not None and not state.engine.is_healthy():
        state.status = "dead"
    body = HealthStatus(
        status=state.status,
        model=state.engine.model_name if state.engine is not None else None,
        error=state.error,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=200 if state.status == "ready" else 503
    )
