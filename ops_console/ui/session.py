"""Sign-in for the console: the operator accounts and tokens of csbot.channels.operators, kept per
browser tab in a gr.State; every handler re-checks the token and the role (a disabled account is out)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from csbot.channels.operators import (
    OperatorIdentity,
    authenticate,
    get_user,
    identity_of,
    issue_operator_token,
    verify_operator_token,
)

ALL_ROLES = ("admin", "operator", "annotator")
AGENTS = ("admin", "operator")


def sign_in(ctx: Any, tenant: str, username: str, password: str) -> dict[str, str] | None:
    user = authenticate(ctx.db, tenant.strip(), username.strip(), password)
    if user is None:
        return None
    ident = identity_of(user)
    return {"token": issue_operator_token(ctx.settings, ident), "tenant": ident.tenant_id,
            "username": ident.username, "role": ident.role, "display_name": ident.display_name}


def require(ctx: Any, session: dict[str, str] | None, roles: tuple[str, ...] = ALL_ROLES) -> OperatorIdentity:
    """The signed-in identity, or a gr.Error the console shows (not signed in, expired, wrong role)."""
    if not session or not session.get("token"):
        raise gr.Error("Please sign in first.")
    ident = verify_operator_token(ctx.settings, session["token"])
    if ident is None:
        raise gr.Error("Your session has expired: sign in again.")
    user = get_user(ctx.db, ident.user_id)
    if user is None or user.disabled or user.tenant_id != ident.tenant_id:
        raise gr.Error("This account is disabled.")
    if ident.role not in roles:
        raise gr.Error(f"Your role ({ident.role}) may not do this; it needs {' or '.join(roles)}.")
    return ident
