"""``GET /v1/templates``: the prompt template versions a request can name."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StateDep
from api.protocol import TemplateInfo, TemplateList

router = APIRouter(prefix="/v1", tags=["templates"])


@router.get("/templates", response_model=TemplateList)
async def list_templates(state: StateDep) -> TemplateList:
    """Every version of every template, by name then version."""
    return TemplateList(
        data=[
            TemplateInfo(
                name=t.name,
                version=t.version,
                ref=t.ref,
                description=t.description,
                placements=list(t.placements),
                variables=list(t.variables),
                system=t.system,
                user=t.user,
            )
            for t in state.templates.all()
        ]
    )
