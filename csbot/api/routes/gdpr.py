"""Per-user erasure for integrators: `DELETE /v1/users/{user_id}` with the tenant's key (scope `admin`)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Path

from csbot.api.deps import AdminPrincipal, CtxDep
from csbot.api.schemas import ErrorBody
from csbot.gdpr import GdprError, delete_user

router = APIRouter(prefix="/v1", tags=["privacy"])


@router.delete("/users/{user_id}", responses={400: {"model": ErrorBody}})
async def erase_user(ctx: CtxDep, principal: AdminPrincipal,
                     user_id: str = Path(min_length=1, max_length=128)) -> dict[str, Any]:
    """Erase every trace of one customer of the calling tenant; returns what was removed (counts only).

    Idempotent: erasing a user with nothing stored returns empty counts, not 404, so a retry after a
    lost response is safe.
    """
    redis = ctx.redis_sync()
    try:
        report = await asyncio.to_thread(delete_user, ctx.db, principal.tenant_id, user_id, redis=redis,
                                         prefix=ctx.settings.redis_prefix, actor=f"api-key:{principal.key_id}")
    except GdprError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    finally:
        redis.close()
    return report.as_json()
