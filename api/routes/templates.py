"""The template registry over HTTP: list, read, save versions, move labels, diff, and preview.

Reads and the preview need the ``generate`` scope; saves, label moves and previewing an unsaved draft
``templates:write``; the key's name is recorded as the author. The registry is synchronous (SQLAlchemy),
so its routes are plain ``def`` (FastAPI runs them in its thread pool) and the preview reads it through
:func:`asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from api.auth import AuthError
from api.cancellation import ClientDisconnectedError, cancel_on_disconnect
from api.deps import GenerateKey, PipelineDep, StateDep, TemplatesWriteKey, author_of
from api.openapi import error_doc
from api.protocol.templates import (
    ConflictInfo,
    LabelMoveBody,
    PreviewBody,
    TemplateDetail,
    TemplateList,
    TemplateVersionInfo,
    VersionList,
    VersionMeta,
)
from core.errors import CreativeInputError
from creative.preview import PreviewResult
from prompts.models import LabelMove, TemplateDiff, TemplateValidationError, VersionDraft
from prompts.refs import LABEL_PATTERN
from prompts.registry import TemplateRegistry
from prompts.template import ALLOWED_VARIABLES, PromptTemplate
from prompts.validation import validate_draft

router = APIRouter(prefix="/v1", tags=["templates"])

TemplateNamePath = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$", description="A template name, e.g. `google_search`.")
]
VersionPath = Annotated[int, Path(ge=1, le=10**9)]
LabelPath = Annotated[str, Path(pattern=LABEL_PATTERN, description="e.g. `production` or `staging`.")]


_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc("Invalid parameter; `param` names it."),
    401: error_doc("Missing, invalid or revoked API key."),
    403: error_doc("The key lacks the scope."),
    404: error_doc("No such template or version."),
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_READ_ERRORS,
    409: error_doc("Changed meanwhile: `current_version` says where it is now; reload.", ConflictInfo),
    422: error_doc("The template is invalid: `param` names the field, the message the bad variable."),
}


@router.get("/templates", response_model=TemplateList, responses=_READ_ERRORS)
def list_templates(state: StateDep, _: GenerateKey) -> TemplateList:
    """Every template with its newest version and labels, and the variables templates may use."""
    return TemplateList(
        data=state.templates.list_templates(),
        variables=dict(ALLOWED_VARIABLES),
    )


@router.get("/templates/{name}", response_model=TemplateDetail, responses=_READ_ERRORS)
def get_template(name: TemplateNamePath, state: StateDep, _: GenerateKey) -> TemplateDetail:
    """One template: labels, every version's metadata (oldest first) and the label history."""
    registry = state.templates
    return TemplateDetail(
        **registry.get_template(name).model_dump(),
        versions=[VersionMeta.of(v) for v in registry.list_versions(name)],
        label_history=registry.label_history(name),
    )


@router.get("/templates/{name}/versions", response_model=VersionList, responses=_READ_ERRORS)
def list_versions(name: TemplateNamePath, state: StateDep, _: GenerateKey) -> VersionList:
    """Every version of a template with its text, oldest first."""
    return VersionList(data=[TemplateVersionInfo.of(v) for v in state.templates.list_versions(name)])


@router.get(
    "/templates/{name}/versions/{version}", response_model=TemplateVersionInfo, responses=_READ_ERRORS
)
def get_version(
    name: TemplateNamePath, version: VersionPath, state: StateDep, _: GenerateKey
) -> TemplateVersionInfo:
    """One version with its text, variables, sampling defaults and the labels pointing at it."""
    return TemplateVersionInfo.of(state.templates.get_version(name, version))


@router.post(
    "/templates/{name}/versions",
    response_model=TemplateVersionInfo,
    status_code=201,
    responses=_WRITE_ERRORS,
)
def create_version(
    name: TemplateNamePath, body: VersionDraft, state: StateDep, key: TemplatesWriteKey
) -> TemplateVersionInfo:
    """Save a new version (scope `templates:write`); `base_version` null creates the template.

    409 when `base_version` is not the newest version any more (someone saved meanwhile); 422 when a
    text uses a variable that is not declared or that requests do not provide.
    """
    return TemplateVersionInfo.of(state.templates.create_version(name, body, author_of(key)))


@router.put("/templates/{name}/labels/{label}", response_model=LabelMove, responses=_WRITE_ERRORS)
def move_label(
    name: TemplateNamePath,
    label: LabelPath,
    body: LabelMoveBody,
    state: StateDep,
    key: TemplatesWriteKey,
) -> LabelMove:
    """Point a label at a version (scope `templates:write`): promote, or roll back to an older one.

    With `expected_version`, 409 when the label was moved meanwhile.
    """
    move = state.templates.move_label(
        name, label, body.version, author=author_of(key), expected_version=body.expected()
    )
    return move


@router.get("/templates/{name}/diff", response_model=TemplateDiff, responses=_READ_ERRORS)
def diff_versions(
    name: TemplateNamePath,
    state: StateDep,
    _: GenerateKey,
    from_version: Annotated[int, Query(alias="from", ge=1, le=10**9)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=10**9)],
) -> TemplateDiff:
    """What changed from one version to another: the fields that differ and unified diffs."""
    return state.templates.diff(name, from_version, to_version)


def _preview_template(
    registry: TemplateRegistry, name: str, body: PreviewBody
) -> tuple[PromptTemplate, bool]:
    """The template to preview and whether it is an unsaved draft."""
    if body.draft is not None:
        draft = body.draft.as_version_draft()
        try:
            return validate_draft(name, draft, (draft.base_version or 0) + 1), True
        except TemplateValidationError as exc:
            raise TemplateValidationError(str(exc), f"draft.{exc.param}", exc.code) from None
    ref = f"{name}@{body.version}" if body.version is not None else name
    return registry.resolve_version(ref).to_prompt(), False


def _in_sample(exc: CreativeInputError) -> CreativeInputError:
    """An error about the sample's profile or product, with ``param`` as this body names it."""
    info = exc.info
    if info.param is None or not info.param.startswith(("profile", "product")):
        return exc
    param = f"sample.{info.param}"
    message = info.message.replace(info.param, param, 1)
    return CreativeInputError(message, param=param, code=info.code or "invalid_value")


@router.post(
    "/templates/{name}/preview",
    response_model=PreviewResult,
    responses={
        **_WRITE_ERRORS,
        429: error_doc("At the concurrency limit; retry after `Retry-After` seconds."),
        503: error_doc("The engine is starting or down; retry after `Retry-After` seconds."),
    },
)
async def preview_template(
    name: TemplateNamePath,
    body: PreviewBody,
    request: Request,
    state: StateDep,
    pipeline: PipelineDep,
    key: GenerateKey,
) -> PreviewResult:
    """Render a version (or a draft) for a sample request and write `n` candidates in one round.

    Each candidate's fields come with their length as the placement counts it and its limits; failing
    candidates are shown too, with their reasons. Nothing is ranked and nothing is saved. A `draft` runs
    unsaved instructions, so it needs `templates:write` as well as `generate`.
    """
    if body.draft is not None and key is not None and "templates:write" not in key.scopes:
        raise AuthError(403, "previewing a draft needs the `templates:write` scope", "insufficient_scope")
    if "n" not in body.model_fields_set:  # the default never exceeds the server's limit
        body = body.model_copy(update={"n": min(body.n, state.settings.generation.max_n)})
    template, draft = await asyncio.to_thread(_preview_template, state.templates, name, body)
    placement = body.sample.placement or template.placements[0]
    if placement not in template.placements:
        raise CreativeInputError(
            f"{template.ref} writes for {template.placements}, not for {placement!r}",
            param="sample.placement",
            code="template_mismatch",
        )
    sample = body.sample_request(placement)
    request_id = f"pv-{request.state.request_id}"
    async with state.admission.slot():
        try:
            return await cancel_on_disconnect(
                request, pipeline.preview(template, sample, draft=draft, request_id=request_id)
            )
        except ClientDisconnectedError:
            state.metrics.cancelled.inc()
            raise
        except CreativeInputError as exc:
            raise _in_sample(exc) from None
