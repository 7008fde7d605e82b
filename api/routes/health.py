"""``GET /health``: 200 when the engine is ready, 503 while starting or after it died."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(state: StateDep) -> JSONResponse:
    """Engine status; load balancers should only route to a 200."""
    if state.status == "ready" and state.engine is not None and not state.engine.is_healthy():
        state.status = "dead"
    body: dict[str, object] = {"status": state.status}
    if state.engine is not None:
        body["model"] = state.engine.model_name
    if state.error:
        body["error"] = state.error
    return JSONResponse(body, status_code=200 if state.status == "ready" else 503)
