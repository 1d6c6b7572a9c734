"""`/v1/kb/...`: FAQ items (draft), publish, rollback, versions and search, for the console and integrators."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from csbot.api.deps import CtxDep, KbPrincipal
from csbot.api.schemas import ErrorBody
from csbot.bots import KNOWLEDGE_SEARCH
from csbot.context import AppContext
from csbot.types import Passage
from kbbot.schema import FaqItem, RowProblem
from kbbot.service import KBService

router = APIRouter(prefix="/v1/kb", tags=["kb"])
#: a save that clashes with another item, or a publish/rollback with nothing to act on
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ErrorBody}}


class FaqItemUpdate(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1)
    similar: list[str] = Field(default_factory=list)
    category: str = ""
    tags: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    lang: str = ""
    valid_from: float | None = None
    valid_to: float | None = None
    enabled: bool = True


class FaqItemCreate(FaqItemUpdate):
    id: str = Field(min_length=1, max_length=128)


class FaqItemPublic(FaqItemUpdate):
    id: str


class SaveResult(BaseModel):
    item: FaqItemPublic
    published_version: int | None = None


class VersionPublic(BaseModel):
    version: int
    items: int
    embedder_version: str
    note: str
    created_at: float


class VersionsPublic(BaseModel):
    live: int | None
    versions: list[VersionPublic]


class PublishRequest(BaseModel):
    note: str = ""


class RollbackRequest(BaseModel):
    version: int | None = None


class LiveVersion(BaseModel):
    version: int


def _service(ctx: AppContext) -> KBService:
    return KBService(ctx.db, ctx.milvus_uri, ctx.models.embedder, ctx.redis_sync(), ctx.settings.redis_prefix)


def _public(item: FaqItem) -> FaqItemPublic:
    data: dict[str, Any] = item.model_dump()
    data["id"] = data.pop("faq_id")
    return FaqItemPublic.model_validate(data)


def _conflict(problems: list[RowProblem]) -> HTTPException:
    return HTTPException(409, "; ".join(p.reason for p in problems))


@router.get("/items", response_model=list[FaqItemPublic])
async def list_items(principal: KbPrincipal, ctx: CtxDep) -> list[FaqItemPublic]:
    """The tenant's draft items (what the next publish makes live)."""
    items = await asyncio.to_thread(_service(ctx).items, principal.tenant_id)
    return [_public(it) for it in items]


@router.get("/items/{faq_id}", response_model=FaqItemPublic)
async def get_item(faq_id: str, principal: KbPrincipal, ctx: CtxDep) -> FaqItemPublic:
    item = await asyncio.to_thread(_service(ctx).store.draft_item, principal.tenant_id, faq_id)
    if item is None:
        raise HTTPException(404, f"no FAQ item {faq_id!r}")
    return _public(item)


async def _save(ctx: AppContext, tenant_id: str, item: FaqItem, publish: bool) -> SaveResult:
    svc = _service(ctx)
    problems = await asyncio.to_thread(svc.save_item, tenant_id, item)
    if problems:
        raise _conflict(problems)
    version = await asyncio.to_thread(svc.publish, tenant_id) if publish else None
    return SaveResult(item=_public(item), published_version=version)


@router.post("/items", response_model=SaveResult, status_code=201, responses=CONFLICT)
async def create_item(body: FaqItemCreate, principal: KbPrincipal, ctx: CtxDep,
                      publish: bool = Query(False, description="Publish a new version right away")) -> SaveResult:
    existing = await asyncio.to_thread(_service(ctx).store.draft_item, principal.tenant_id, body.id)
    if existing is not None:
        raise HTTPException(409, f"FAQ item {body.id!r} exists; use PUT to change it")
    data = body.model_dump()
    item = FaqItem(faq_id=data.pop("id"), **data)
    return await _save(ctx, principal.tenant_id, item, publish)


@router.put("/items/{faq_id}", response_model=SaveResult, responses=CONFLICT)
async def put_item(faq_id: str, body: FaqItemUpdate, principal: KbPrincipal, ctx: CtxDep,
                   publish: bool = Query(False, description="Publish a new version right away")) -> SaveResult:
    """Create or replace one draft item; publishing re-encodes only the questions that changed."""
    return await _save(ctx, principal.tenant_id, FaqItem(faq_id=faq_id, **body.model_dump()), publish)


@router.delete("/items/{faq_id}", status_code=204)
async def delete_item(faq_id: str, principal: KbPrincipal, ctx: CtxDep) -> None:
    if not await asyncio.to_thread(_service(ctx).store.delete_item, principal.tenant_id, faq_id):
        raise HTTPException(404, f"no FAQ item {faq_id!r}")


@router.post("/publish", response_model=LiveVersion, responses=CONFLICT)
async def publish(body: PublishRequest, principal: KbPrincipal, ctx: CtxDep) -> LiveVersion:
    try:
        v = await asyncio.to_thread(_service(ctx).publish, principal.tenant_id, note=body.note)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    return LiveVersion(version=v)


@router.post("/rollback", response_model=LiveVersion, responses=CONFLICT)
async def rollback(body: RollbackRequest, principal: KbPrincipal, ctx: CtxDep) -> LiveVersion:
    try:
        v = await asyncio.to_thread(_service(ctx).rollback, principal.tenant_id, body.version)
    except (ValueError, KeyError) as exc:
        raise HTTPException(409, str(exc)) from exc
    return LiveVersion(version=v)


@router.get("/versions", response_model=VersionsPublic)
async def versions(principal: KbPrincipal, ctx: CtxDep) -> VersionsPublic:
    svc = _service(ctx)
    live, rows = await asyncio.gather(asyncio.to_thread(svc.store.live_version, principal.tenant_id),
                                      asyncio.to_thread(svc.store.versions, principal.tenant_id))
    return VersionsPublic(live=live, versions=[VersionPublic.model_validate(r) for r in rows])


@router.get("/search", response_model=list[Passage])
async def search(principal: KbPrincipal, ctx: CtxDep, q: str = Query(min_length=1, max_length=500),
                 k: int = Query(5, ge=1, le=20)) -> list[Passage]:
    """The live version's best matches for a query (what grounded chat answers cite)."""
    fn = ctx.extras.get(KNOWLEDGE_SEARCH)
    if fn is None:
        raise HTTPException(503, "the KB bot is not loaded in this process")
    return await fn(principal.tenant_id, q, k)  # type: ignore[operator]
