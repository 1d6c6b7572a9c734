"""Shared request dependencies, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csbot.context import AppContext
from csbot.pipeline.pipeline import Pipeline
from csbot.tenants import KeyVerifier, Principal

_bearer = HTTPBearer(auto_error=False, description="A tenant API key: `Authorization: Bearer csk_...`")


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def get_pipeline(request: Request) -> Pipeline:
    return request.app.state.pipeline


async def get_principal(request: Request,
                        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if creds is None or not creds.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key: send `Authorization: Bearer <key>`",
                            headers={"WWW-Authenticate": "Bearer"})
    verifier: KeyVerifier = request.app.state.keys
    from starlette.concurrency import run_in_threadpool

    principal = await run_in_threadpool(verifier.verify, creds.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def require_scope(scope: str):  # type: ignore[no-untyped-def]
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if scope not in principal.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks the {scope!r} scope")
        return principal

    return check


CtxDep = Annotated[AppContext, Depends(get_ctx)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
ChatPrincipal = Annotated[Principal, Depends(require_scope("chat"))]
ConversationsPrincipal = Annotated[Principal, Depends(require_scope("conversations"))]
KbPrincipal = Annotated[Principal, Depends(require_scope("kb"))]
AdminPrincipal = Annotated[Principal, Depends(require_scope("admin"))]


async def get_tenant_id(principal: PrincipalDep) -> str:
    return principal.tenant_id


TenantDep = Annotated[str, Depends(get_tenant_id)]
