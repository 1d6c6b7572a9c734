"""`csbot user ...`: console users (admins, operators, annotators)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

user_app = typer.Typer(help="Console users: admins, operators, annotators.", no_args_is_help=True)


@user_app.command("create")
def user_create(tenant: Annotated[str, typer.Option(help="Tenant id")],
                username: Annotated[str, typer.Option(help="Sign-in name, unique per tenant")],
                role: Annotated[str, typer.Option(help="admin | operator | annotator")] = "operator",
                password: Annotated[str | None, typer.Option(help="Password (asked for when omitted)")] = None,
                display_name: Annotated[str, typer.Option(help="Name customers see")] = "") -> None:
    """Create a console user."""
    from csbot.channels.operators import OperatorError, create_console_user
    from csbot.config import get_settings
    from csbot.storage.db import Database

    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_console_user(Database(get_settings().database_url), tenant, username, password, role,
                                   display_name)
    except OperatorError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from exc
    typer.echo(f"user {user.username} ({user.role}) created in tenant {tenant}")


@user_app.command("list")
def user_list(tenant: Annotated[str, typer.Option(help="Tenant id")],
              as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False) -> None:
    """List a tenant's console users."""
    from csbot.channels.operators import list_users
    from csbot.config import get_settings
    from csbot.storage.db import Database

    users = list_users(Database(get_settings().database_url), tenant)
    rows = [{"id": u.id, "username": u.username, "role": u.role, "display_name": u.display_name,
             "disabled": u.disabled} for u in users]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        typer.echo(f"{r['username']:<24} {r['role']:<10} {r['display_name']}{'  (disabled)' if r['disabled'] else ''}")


@user_app.command("passwd")
def user_passwd(tenant: Annotated[str, typer.Option(help="Tenant id")],
                username: Annotated[str, typer.Option(help="Sign-in name")],
                password: Annotated[str | None, typer.Option(help="New password (asked for when omitted)")] = None,
                ) -> None:
    """Set a console user's password."""
    from csbot.channels.operators import OperatorError, set_password
    from csbot.config import get_settings
    from csbot.storage.db import Database

    if password is None:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    try:
        ok = set_password(Database(get_settings().database_url), tenant, username, password)
    except OperatorError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from exc
    if not ok:
        typer.secho(f"error: no user {username!r} in tenant {tenant!r}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    typer.echo("password changed")
