"""Annotated FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.state import ServiceState
from creative.writer import CreativeWriter


def get_state(request: Request) -> ServiceState:
    """The service state owned by the lifespan."""
    state: ServiceState = request.app.state.service
    return state


def get_writer(state: Annotated[ServiceState, Depends(get_state)]) -> CreativeWriter:
    """The writer; 503 while the engine is not ready."""
    return state.ready_writer()


StateDep = Annotated[ServiceState, Depends(get_state)]
WriterDep = Annotated[CreativeWriter, Depends(get_writer)]
