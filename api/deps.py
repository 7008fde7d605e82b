"""Annotated FastAPI dependencies: the service state, the pipeline, scoped API-key checks, the author."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import ApiKeyRecord, Scope
from api.state import ServiceState
from creative.pipeline import CreativePipeline

_bearer = HTTPBearer(auto_error=False, description="An API key (required when keys are configured).")


def get_state(request: Request) -> ServiceState:
    """The service state owned by the app."""
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_pipeline(state: StateDep) -> CreativePipeline:
    """Writer + ranker; 503 while the engine is not ready."""
    return state.ready_pipeline()


PipelineDep = Annotated[CreativePipeline, Depends(get_pipeline)]


def require(scope: Scope) -> Callable[..., ApiKeyRecord | None]:
    """A dependency that admits a request whose key has ``scope`` (anyone while no key is configured)."""

    def check(
        state: StateDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKeyRecord | None:
        header = f"Bearer {credentials.credentials}" if credentials is not None else None
        return state.keys.authorize(header, scope)

    return check


GenerateKey = Annotated[ApiKeyRecord | None, Depends(require("generate"))]
TemplatesWriteKey = Annotated[ApiKeyRecord | None, Depends(require("templates:write"))]
ExperimentsReadKey = Annotated[ApiKeyRecord | None, Depends(require("experiments:read"))]
ExperimentsWriteKey = Annotated[ApiKeyRecord | None, Depends(require("experiments:write"))]
EventsWriteKey = Annotated[ApiKeyRecord | None, Depends(require("events:write"))]

ANONYMOUS = "anonymous"


def author_of(key: ApiKeyRecord | None) -> str:
    """Who a change is recorded under: the API key's name, or ``anonymous`` while keys are off."""
    return key.name if key is not None else ANONYMOUS
