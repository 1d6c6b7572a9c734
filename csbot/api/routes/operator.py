"""The operator API: sign-in, the queue of conversations waiting for a person, and live handoff."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from csbot.api.deps import CtxDep, OperatorDep
from csbot.api.schemas import ErrorBody
from csbot.channels import operators
from csbot.channels.ratelimit import Limit, hit
from csbot.channels.setup import settings_of

router = APIRouter(prefix="/v1/operator", tags=["operator"])

AUTH_ERRORS: dict[int | str, dict[str, object]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=64)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class OperatorPublic(BaseModel):
    user_id: str
    tenant_id: str
    username: str
    role: str
    display_name: str


class LoginResponse(OperatorPublic):
    token: str
    token_type: str = "bearer"
    expires_at: int


@router.post("/login", response_model=LoginResponse, responses={401: {"model": ErrorBody}, 429: {"model": ErrorBody}})
async def login(body: LoginRequest, ctx: CtxDep, request: Request) -> LoginResponse:
    """Sign in a console user; send the token as `Authorization: Bearer <token>` afterwards."""
    cs = settings_of(request)
    throttle_key = ctx.key("rl", "login", body.tenant, body.username)
    current = await ctx.redis.get(throttle_key)
    if current is not None and int(current) >= cs.login_attempts_per_5min > 0:
        ttl = await ctx.redis.ttl(throttle_key)
        raise HTTPException(429, "too many failed sign-ins; wait and retry",
                            headers={"Retry-After": str(max(1, ttl))})
    user = await asyncio.to_thread(operators.authenticate, ctx.db, body.tenant, body.username, body.password)
    if user is None:
        await hit(ctx.redis, throttle_key, Limit(1 << 30, 300))
        raise HTTPException(401, "wrong tenant, username or password, or the account is disabled")
    await ctx.redis.delete(throttle_key)
    ident = operators.identity_of(user)
    token = operators.issue_operator_token(ctx.settings, ident)
    return LoginResponse(token=token, expires_at=int(time.time()) + operators.TOKEN_TTL_S, **_public(ident).model_dump())


@router.get("/me", response_model=OperatorPublic, responses=AUTH_ERRORS)
async def me(ident: OperatorDep) -> OperatorPublic:
    """Who the operator token belongs to."""
    return _public(ident)


def _public(ident: operators.OperatorIdentity) -> OperatorPublic:
    return OperatorPublic(user_id=ident.user_id, tenant_id=ident.tenant_id, username=ident.username,
                          role=ident.role, display_name=ident.display_name)
