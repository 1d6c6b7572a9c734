"""Shared request dependencies, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csbot.channels.operators import OperatorIdentity, get_user, verify_operator_token
from csbot.context import AppContext
from csbot.pipeline.pipeline import Pipeline
from csbot.tenants import KeyVerifier, Principal

_bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                     description="A tenant API key: `Authorization: Bearer csk_...`")


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
    await limit_api_key(request, principal)
    return principal


async def limit_api_key(request: Request, principal: Principal) -> None:
    """Per-key request budget in Redis (CSBOT_CHANNELS_API_KEY_REQUESTS_PER_MIN); 429 with Retry-After."""
    from csbot.channels.ratelimit import Limit, hit
    from csbot.channels.setup import channel_settings

    ctx = request.app.state.ctx
    rule = Limit(channel_settings(request.app).api_key_requests_per_min, 60)
    decision = await hit(ctx.redis, ctx.key("rl", "key", principal.key_id), rule)
    if not decision.allowed:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"this API key is limited to {rule.limit} requests per minute",
                            headers={"Retry-After": str(decision.retry_after_s)})


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


# --- operators (console users): `Authorization: Bearer <operator token>` from POST /v1/operator/login ---
_operator_bearer = HTTPBearer(auto_error=False, scheme_name="OperatorToken",
                              description="An operator token from `POST /v1/operator/login`")


async def get_operator(request: Request,
                       creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_operator_bearer)],
                       ) -> OperatorIdentity:
    """The signed-in console user; a disabled or deleted account is refused even with a valid token."""
    from starlette.concurrency import run_in_threadpool

    ident: OperatorIdentity | None = None
    if creds is not None and creds.credentials:
        ident = verify_operator_token(request.app.state.settings, creds.credentials)
    if ident is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing, invalid or expired operator token: "
                            "sign in with POST /v1/operator/login", headers={"WWW-Authenticate": "Bearer"})
    user = await run_in_threadpool(get_user, request.app.state.ctx.db, ident.user_id)
    if user is None or user.disabled or user.tenant_id != ident.tenant_id:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this console account is disabled or deleted",
                            headers={"WWW-Authenticate": "Bearer"})
    return ident


def require_role(*roles: str):  # type: ignore[no-untyped-def]
    async def check(ident: Annotated[OperatorIdentity, Depends(get_operator)]) -> OperatorIdentity:
        if ident.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {ident.role!r} may not do this; "
                                f"needs one of {', '.join(roles)}")
        return ident

    return check


#: any signed-in console user (admin, operator, annotator)
OperatorDep = Annotated[OperatorIdentity, Depends(get_operator)]
#: a console user who may answer customers (admin or operator)
AgentDep = Annotated[OperatorIdentity, Depends(require_role("admin", "operator"))]
#: a console admin
ConsoleAdminDep = Annotated[OperatorIdentity, Depends(require_role("admin"))]
CrmPrincipal = Annotated[Principal, Depends(require_scope("crm"))]
