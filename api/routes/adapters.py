"""``GET /v1/adapters`` and ``POST /v1/adapters``: the LoRA adapters requests can name."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends

from api.deps import GenerateKey, StateDep, require
from api.protocol import AdapterInfo, AdapterList, AdapterRegistration

router = APIRouter(prefix="/v1", tags=["adapters"])


@router.get("/adapters", response_model=AdapterList)
async def list_adapters(state: StateDep, _: GenerateKey) -> AdapterList:
    """Registered adapters and the default one (applied when a request names none; scope `generate`)."""
    return AdapterList(
        default=state.adapters.default,
        data=[AdapterInfo.model_validate(a.describe()) for a in state.adapters.all()],
    )


@router.post(
    "/adapters",
    response_model=AdapterInfo,
    status_code=201,
    dependencies=[Depends(require("adapters:write"))],
)
async def register_adapter(body: AdapterRegistration, state: StateDep) -> AdapterInfo:
    """Register an adapter folder found inside the allowed adapter folders (scope `adapters:write`).

    The card's base-model hash must match the served model and the rank must fit the engine.
    """
    adapter = state.adapters.register(body.name, Path(body.path))
    return AdapterInfo.model_validate(adapter.describe())
