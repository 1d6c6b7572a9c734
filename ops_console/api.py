"""Operations API (`/v1/annotations`, `/v1/training`, `/v1/models`) and `mount(app)`, which adds it and the
Gradio console at `/console` to the csbot server (entry point `csbot.api`). Promotions are applied by
the server itself (csbot.api.promotions), console or not.

Every route needs an operator token (POST /v1/operator/login) and acts on that user's tenant only.
Roles: annotators annotate and export; operators also launch and cancel jobs and promote (not forced);
admins may force a promotion past the evaluation gate.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, Field

from csbot.api.deps import OperatorDep, require_role
from csbot.api.schemas import ErrorBody
from csbot.channels.operators import OperatorIdentity
from csbot.models.registry import ModelRegistry, PromotionRefused, RegistryError
from ops_console import audit, export
from ops_console.annotations import (
    AnnotationCreate,
    AnnotationError,
    AnnotationPublic,
    AnnotationService,
    NotFound,
    UnansweredTurn,
)
from ops_console.jobs.service import JobCreate, JobEvent, JobNotFound, JobPublic, JobService
from ops_console.models_service import ModelsService, VersionPublic

TrainerDep = Annotated[OperatorIdentity, Depends(require_role("admin", "operator"))]

#: what `_run` maps the services' errors to, on every route (401/403/422 are documented app-wide)
OPS_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorBody}, 404: {"model": ErrorBody},
                                               409: {"model": ErrorBody}}
router = APIRouter(prefix="/v1", tags=["operations"], responses=OPS_ERRORS)


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


def _jobs(request: Request) -> JobService:
    ctx = _ctx(request)
    svc = getattr(request.app.state, "ops_jobs", None)
    if svc is None:
        svc = request.app.state.ops_jobs = JobService(ctx.settings, ctx.db, ctx.redis_sync())
    return svc  # type: ignore[no-any-return]


def _models(request: Request) -> ModelsService:
    ctx = _ctx(request)
    return ModelsService(ModelRegistry(ctx.settings, ctx.db, ctx.redis_sync()))


async def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(partial(fn, *args, **kwargs))
    except (NotFound, JobNotFound, LookupError) as exc:
        raise HTTPException(404, str(exc)) from exc
    except PromotionRefused as exc:
        raise HTTPException(409, exc.reason) from exc
    except (AnnotationError, RegistryError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from exc


# --- annotations -------------------------------------------------------------------------------

class BulkAnnotations(BaseModel):
    items: list[AnnotationCreate] = Field(min_length=1, max_length=1000)


@router.post("/annotations", response_model=AnnotationPublic, status_code=201)
async def create_annotation(body: AnnotationCreate, ident: OperatorDep, request: Request) -> AnnotationPublic:
    """Correct a turn (intent, FAQ, reply, sensitive); a second correction becomes the next version."""
    svc = AnnotationService(_ctx(request).db)
    out: AnnotationPublic = await _run(svc.create, ident.tenant_id, ident.username, body)
    if out.kind == "faq" and out.correction.get("add_similar") and out.query:
        await _run(_add_similar_question, request, ident, out)
    return out


@router.post("/annotations/bulk", response_model=list[AnnotationPublic], status_code=201)
async def bulk_annotations(body: BulkAnnotations, ident: OperatorDep, request: Request) -> list[AnnotationPublic]:
    svc = AnnotationService(_ctx(request).db)
    return await _run(svc.bulk, ident.tenant_id, ident.username, body.items)  # type: ignore[no-any-return]


@router.get("/annotations", response_model=list[AnnotationPublic])
async def list_annotations(ident: OperatorDep, request: Request, kind: str | None = None,
                           turn_id: str | None = None, history: bool = False,
                           limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[AnnotationPublic]:
    svc = AnnotationService(_ctx(request).db)
    return await _run(svc.list, ident.tenant_id, kind, turn_id=turn_id, history=history, limit=limit)  # type: ignore[no-any-return]


@router.get("/annotations/unanswered", response_model=list[UnansweredTurn])
async def unanswered(ident: OperatorDep, request: Request,
                     limit: Annotated[int, Query(ge=1, le=2000)] = 200) -> list[UnansweredTurn]:
    svc = AnnotationService(_ctx(request).db)
    return await _run(svc.unanswered, ident.tenant_id, limit=limit)  # type: ignore[no-any-return]


@router.get("/annotations/{annotation_id}/versions", response_model=list[AnnotationPublic])
async def annotation_versions(annotation_id: str, ident: OperatorDep, request: Request) -> list[AnnotationPublic]:
    svc = AnnotationService(_ctx(request).db)
    current = await _run(svc.get, ident.tenant_id, annotation_id)
    return await _run(svc.versions, ident.tenant_id, current.chain_id)  # type: ignore[no-any-return]


@router.put("/annotations/{annotation_id}", response_model=AnnotationPublic)
async def update_annotation(annotation_id: str, body: AnnotationCreate, ident: OperatorDep,
                            request: Request) -> AnnotationPublic:
    svc = AnnotationService(_ctx(request).db)
    return await _run(svc.update, ident.tenant_id, ident.username, annotation_id, body)  # type: ignore[no-any-return]


@router.delete("/annotations/{annotation_id}", status_code=204)
async def delete_annotation(annotation_id: str, ident: OperatorDep, request: Request) -> None:
    svc = AnnotationService(_ctx(request).db)
    await _run(svc.delete, ident.tenant_id, ident.username, annotation_id)


class ExportRequest(BaseModel):
    kind: str = Field(pattern="^(sft|dpo|nlu)$")
    format: str = Field(default="trl", pattern="^(trl|llamafactory)$")


class ExportPublic(BaseModel):
    id: str
    kind: str
    format: str
    path: str
    n_examples: int
    fingerprint: str
    records: list[dict[str, Any]]


@router.post("/annotations/export", response_model=ExportPublic, status_code=201)
async def export_set(body: ExportRequest, ident: OperatorDep, request: Request) -> ExportPublic:
    """Write the annotations as a training set (JSONL) and return it with its records."""
    ctx = _ctx(request)
    out = await _run(export.export, ctx.db, ctx.settings.data_dir, ident.tenant_id, body.kind, body.format,
                     actor=ident.username)
    _, recs = await _run(export.load_set, ctx.db, out.id, ident.tenant_id)
    return ExportPublic(**out.__dict__, records=recs)


def _add_similar_question(request: Request, ident: OperatorIdentity, ann: AnnotationPublic) -> None:
    """A FAQ fix adds the user's wording as a similar question of the right item in the KB draft (through
    the KB bot's store); the operator publishes the draft from the Knowledge tab or a kb-index job."""
    try:
        from kbbot.kb_store import KBStore
    except ImportError:
        return
    ctx = _ctx(request)
    store = KBStore(ctx.db)
    faq_id = str(ann.correction["faq_id"])
    item = store.draft_item(ident.tenant_id, faq_id)
    if item is None:
        raise NotFound(f"no FAQ item {faq_id} in the draft of tenant {ident.tenant_id}")
    if ann.query in item.similar or ann.query == item.question:
        return
    store.upsert_item(ident.tenant_id, item.model_copy(update={"similar": [*item.similar, ann.query]}))
    audit.record(ctx.db, ident.tenant_id, ident.username, "kb.similar_question", faq_id, {"question": ann.query})


# --- training jobs -------------------------------------------------------------------------------

@router.post("/training/jobs", response_model=JobPublic, status_code=202)
async def launch_job(body: JobCreate, ident: TrainerDep, request: Request) -> JobPublic:
    return await _run(_jobs(request).launch, ident.tenant_id, ident.username, body)  # type: ignore[no-any-return]


@router.get("/training/jobs", response_model=list[JobPublic])
async def list_jobs(ident: OperatorDep, request: Request) -> list[JobPublic]:
    return await _run(_jobs(request).list, ident.tenant_id)  # type: ignore[no-any-return]


@router.get("/training/jobs/{job_id}", response_model=JobPublic)
async def get_job(job_id: str, ident: OperatorDep, request: Request) -> JobPublic:
    return await _run(_jobs(request).get, ident.tenant_id, job_id)  # type: ignore[no-any-return]


@router.get("/training/jobs/{job_id}/events", response_model=list[JobEvent])
async def job_events(job_id: str, ident: OperatorDep, request: Request, after: int = 0,
                     kind: str | None = None) -> list[JobEvent]:
    return await _run(_jobs(request).events, ident.tenant_id, job_id, after=after, kind=kind)  # type: ignore[no-any-return]


@router.post("/training/jobs/{job_id}/cancel", response_model=JobPublic)
async def cancel_job(job_id: str, ident: TrainerDep, request: Request) -> JobPublic:
    return await _run(_jobs(request).cancel, ident.tenant_id, ident.username, job_id)  # type: ignore[no-any-return]


# --- model registry ----------------------------------------------------------------------------

class PromoteRequest(BaseModel):
    force: bool = False


class RollbackRequest(BaseModel):
    role: str


@router.get("/models", response_model=dict[str, list[VersionPublic]])
async def list_models(ident: OperatorDep, request: Request, role: str | None = None) -> dict[str, list[VersionPublic]]:
    return await _run(_models(request).list, ident.tenant_id, role)  # type: ignore[no-any-return]


@router.post("/models/{version_id}/promote", response_model=VersionPublic)
async def promote(version_id: str, body: PromoteRequest, ident: TrainerDep, request: Request) -> VersionPublic:
    """Serve this version; refused (409) when its report is worse than the serving one, unless an admin forces."""
    if body.force and ident.role != "admin":
        raise HTTPException(403, "only an admin may force a promotion past the evaluation gate")
    return await _run(_models(request).promote, ident.tenant_id, ident.username, version_id, force=body.force)  # type: ignore[no-any-return]


@router.post("/models/rollback", response_model=VersionPublic | None)
async def rollback(body: RollbackRequest, ident: TrainerDep, request: Request) -> VersionPublic | None:
    return await _run(_models(request).rollback, ident.tenant_id, ident.username, body.role)  # type: ignore[no-any-return]


@router.get("/audit", response_model=list[audit.AuditPublic])
async def audit_log(ident: OperatorDep, request: Request,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[audit.AuditPublic]:
    return await _run(audit.entries, _ctx(request).db, ident.tenant_id, limit)  # type: ignore[no-any-return]


# --- mounting ----------------------------------------------------------------------------------

def mount(app: FastAPI) -> None:
    """Entry point `csbot.api` → console: the operations API and the Gradio console."""
    app.include_router(router)
    try:
        from ops_console.ui.app import mount_console
    except ImportError:  # console UI not importable (gradio missing): the API still works
        return
    mount_console(app)
