"""`csbot gdpr ...`: erase one customer's data, purge what outlived retention, set a tenant's retention."""

from __future__ import annotations

import json
from typing import Annotated, NoReturn

import typer

from csbot.config import get_settings

gdpr_app = typer.Typer(help="Personal data: per-user erasure and retention.", no_args_is_help=True)


def _fail(msg: str) -> NoReturn:
    typer.secho(f"error: {msg}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def _clients():  # type: ignore[no-untyped-def]
    from csbot.gdpr import _redis
    from csbot.storage.db import Database

    settings = get_settings()
    return settings, Database(settings.database_url), _redis(settings.redis_url)


@gdpr_app.command("delete")
def delete(tenant: Annotated[str, typer.Option(help="Tenant id")],
           user: Annotated[str, typer.Option(help="The customer's user id (as sent by the integration)")],
           as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False) -> None:
    """Erase every trace of one customer: conversations, turns, traces, annotations, contact, Redis keys."""
    from csbot.gdpr import GdprError, delete_user

    settings, db, redis = _clients()
    try:
        report = delete_user(db, tenant, user, redis=redis, prefix=settings.redis_prefix, actor="cli")
    except GdprError as exc:
        _fail(str(exc))
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        parts = ", ".join(f"{k}={v}" for k, v in sorted(report.removed.items())) or "nothing stored"
        typer.echo(f"user {user} of {tenant} erased: {parts}")


@gdpr_app.command("purge-expired")
def purge(tenant: Annotated[str | None, typer.Option(help="Only this tenant")] = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON")] = False) -> None:
    """Erase conversations idle for longer than their tenant's `retention_days` (run it daily, e.g. from cron)."""
    from csbot.gdpr import purge_expired

    settings, db, redis = _clients()
    try:
        reports = purge_expired(db, redis=redis, prefix=settings.redis_prefix, tenant_id=tenant)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in reports], ensure_ascii=False))
        return
    if not reports:
        typer.echo("no tenant has a retention setting: nothing purged")
    for r in reports:
        typer.echo(f"{r.tenant_id}: {r.conversations} conversations purged ({dict(r.removed) or 'nothing'})")


@gdpr_app.command("retention")
def retention(tenant: Annotated[str, typer.Option(help="Tenant id")],
              days: Annotated[float, typer.Option(help="Days to keep a conversation after its last message; 0 = forever")]
              ) -> None:
    """Set how long a tenant keeps conversations (and the PII in them)."""
    from csbot.gdpr import GdprError, set_retention

    _, db, _ = _clients()
    try:
        set_retention(db, tenant, days or None)
    except GdprError as exc:
        _fail(str(exc))
    finally:
        db.dispose()
    typer.echo(f"{tenant}: conversations kept {'forever' if not days else f'{days:g} days'}")
