"""``POST /v1/creatives``: write variants for one profile × product × placement and rank the best ``k``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.cancellation import ClientDisconnectedError, cancel_on_disconnect
from api.deps import GenerateKey, PipelineDep, StateDep
from api.openapi import error_doc
from api.protocol.creatives import ServedCreatives
from core.schema import CreativeRequest, CreativeResult
from experiments.serving import serve_in_experiment

router = APIRouter(prefix="/v1", tags=["creatives"])


@router.post(
    "/creatives",
    response_model=ServedCreatives,
    responses={
        400: error_doc("Invalid request; `param` names the field."),
        404: error_doc("No such experiment."),
        409: error_doc("The experiment is stopped."),
        401: error_doc("Missing, invalid or revoked API key."),
        403: error_doc("The key lacks the `generate` scope."),
        413: error_doc("Body over the size limit."),
        429: error_doc("At the concurrency limit; retry after `Retry-After` seconds."),
        503: error_doc("The engine is starting or down; retry after `Retry-After` seconds."),
    },
)
async def create_creatives(
    body: CreativeRequest, request: Request, key: GenerateKey, state: StateDep, pipeline: PipelineDep
) -> ServedCreatives:
    """Generate ``n`` checked candidates and return the top ``k``, ranked, with their scores. With an
    ``experiment``, the profile's arm decides the template, adapter and sampling, and the answer carries the
    decision to report events with.

    If the client disconnects, its generation is cancelled in the engine.
    """
    request_id = f"cr-{request.state.request_id}"

    async def generate(served: CreativeRequest) -> CreativeResult:
        return await cancel_on_disconnect(request, pipeline.run(served, request_id=request_id))

    decision = None
    async with state.admission.slot():
        try:
            if body.experiment is None:
                result = await generate(body)
            else:
                result, decision = await serve_in_experiment(state.experiments, body, generate)
        except ClientDisconnectedError:
            state.metrics.cancelled.inc()
            raise
    state.metrics.observe_result(result)
    return ServedCreatives(**result.model_dump(), decision=decision)
