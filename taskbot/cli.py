"""TaskBot commands: `csbot dst ...` (state tracking evaluation), `csbot task ...` (domains, stories)
and `csbot nlu ...` (re-exported from taskbot.cli_nlu)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taskbot.cli_nlu import nlu_app

__all__ = ["dst_app", "nlu_app", "task_app"]

log = logging.getLogger(__name__)

dst_app = typer.Typer(help="Dialogue state tracking: evaluation on CrossWOZ.", no_args_is_help=True)
task_app = typer.Typer(help="Task domains: validate, reload, and run test stories.", no_args_is_help=True)

err = Console(stderr=True)


@dst_app.callback()
def _dst() -> None:
    """Dialogue state tracking."""


@task_app.callback()
def _task() -> None:
    """Task domains and stories."""


@dst_app.command("eval")
def dst_eval(
    crosswoz: Annotated[Path, typer.Option("--crosswoz", help="CrossWOZ dialogues (.json or .json.zip)", exists=True)],
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout")] = False,
    split: Annotated[str, typer.Option(help="all | train | dev (our fixed hash split of the dialogue ids)")] = "all",
    db_dir: Annotated[Path | None, typer.Option(help="CrossWOZ database directory (value lexicon)")] = None,
) -> None:
    """Track the user turns of each dialogue from their text and compare with the annotated states."""
    from taskbot.crosswoz.evaluate import evaluate
    from taskbot.crosswoz.lexicon import DEFAULT_DB_DIR

    if split not in ("all", "train", "dev"):
        raise typer.BadParameter("split must be all, train or dev")
    with Progress(TextColumn("dialogues"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:

        def progress(ids):  # type: ignore[no-untyped-def]
            return bar.track(ids, total=len(ids))

        report = evaluate(crosswoz, split=split, db_dir=db_dir or DEFAULT_DB_DIR, progress=progress)
    if json_out:
        sys.stdout.write(report.model_dump_json() + "\n")
        return
    table = Table(title=f"CrossWOZ DST ({split})")
    for key in ("n_dialogues", "n_turns", "joint_accuracy", "slot_accuracy", "slot_f1"):
        table.add_column(key)
    table.add_row(*(str(getattr(report, k)) for k in ("n_dialogues", "n_turns", "joint_accuracy", "slot_accuracy", "slot_f1")))
    Console().print(table)


@task_app.command("validate")
def task_validate(
    directory: Annotated[Path, typer.Argument(help="A directory of domain YAML files", exists=True, file_okay=False)],
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check a directory of task domains; problems are printed with file and line."""
    from taskbot.domain import DomainLoadError, load_domain_dir

    try:
        dset = load_domain_dir(directory)
    except DomainLoadError as exc:
        if json_out:
            sys.stdout.write(json.dumps({"ok": False, "errors": [e.model_dump() for e in exc.errors]}, ensure_ascii=False) + "\n")
        else:
            for e in exc.errors:
                err.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from exc
    if json_out:
        sys.stdout.write(json.dumps({"ok": True, "domains": sorted(dset.domains)}) + "\n")
    else:
        Console().print(f"ok: {len(dset.domains)} domains: {', '.join(sorted(dset.domains))}")


@task_app.command("reload")
def task_reload(tenant: Annotated[str, typer.Option(help="Tenant whose domains changed")]) -> None:
    """Tell running servers to reload a tenant's task domains (Redis pub/sub `task-changed`)."""
    from csbot.config import get_settings
    from csbot.context import AppContext

    async def go() -> int:
        ctx = AppContext.create(get_settings())
        try:
            return int(await ctx.redis.publish(ctx.key("events", "task-changed"), json.dumps({"tenant_id": tenant})))
        finally:
            await ctx.close()

    n = asyncio.run(go())
    Console().print(f"task-changed sent for {tenant} ({n} listeners)")


@task_app.command("test")
def task_test(
    stories: Annotated[Path, typer.Argument(help="Stories YAML", exists=True, dir_okay=False)],
    url: Annotated[str | None, typer.Option(help="csbot API base URL (default: the configured host:port)")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (default: CSBOT_API_KEY or the demo key file)", envvar="CSBOT_API_KEY")] = None,
    shop_url: Annotated[str | None, typer.Option(help="Shop backend URL (default: settings.shop_url)")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant id, to check `slots` through the state store")] = None,
    only: Annotated[str | None, typer.Option(help="Run only stories whose name contains this")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run scripted dialogues against a running `csbot serve` and the shop backend; exit 1 on failure."""
    from csbot.config import get_settings
    from taskbot.stories import StoryRunner, load_stories

    settings = get_settings()
    base = url or f"http://{settings.host}:{settings.port}"
    key = api_key
    if key is None:
        key_file = settings.data_dir / "demo_api_key.txt"
        key = key_file.read_text().strip() if key_file.exists() else ""
    if not key:
        raise typer.BadParameter("no API key: pass --api-key or set CSBOT_API_KEY")
    shop = shop_url or settings.shop_url
    if not shop:
        raise typer.BadParameter("no shop URL: pass --shop-url or set CSBOT_SHOP_URL")
    reader = _slot_reader(tenant) if tenant else None
    runner = StoryRunner(base, key, shop, slot_reader=reader)
    todo = [s for s in load_stories(stories) if not only or only in s.name]
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err, transient=True) as bar:
        job = bar.add_task("stories", total=len(todo))
        for story in todo:
            bar.update(job, description=story.name[:40])
            results.append(runner.run(story))
            bar.advance(job)
    failed = [r for r in results if not r.ok]
    if json_out:
        sys.stdout.write(json.dumps({"passed": len(results) - len(failed), "failed": len(failed),
                                     "stories": [r.model_dump() for r in results]}, ensure_ascii=False) + "\n")
    else:
        table = Table(title=f"stories: {len(results) - len(failed)}/{len(results)} passed")
        table.add_column("story")
        table.add_column("result")
        table.add_column("s")
        table.add_column("problem")
        for r in results:
            table.add_row(r.name, "[green]pass[/green]" if r.ok else "[red]FAIL[/red]", str(r.seconds), r.first_problem)
        Console(width=200).print(table)
    if failed:
        raise typer.Exit(1)


def _slot_reader(tenant: str):  # type: ignore[no-untyped-def]
    """Reads the open task's slots from the state store (Redis, else SQL) of this installation."""
    from csbot.config import get_settings
    from csbot.sessions import StateStore
    from csbot.storage.db import Database

    settings = get_settings()

    def read(session_id: str) -> dict[str, str] | None:
        from redis.asyncio import Redis

        async def go() -> dict[str, str] | None:
            db = Database(settings.database_url)
            redis = Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0", decode_responses=True)
            try:
                state = await StateStore(db, redis, settings.redis_prefix).load(tenant, session_id)
            finally:
                await redis.aclose()
                db.dispose()
            task = state.bots.get("task")
            if not isinstance(task, dict) or not task.get("stack"):
                return {}
            top = cast(dict[str, Any], cast(list[Any], task["stack"])[-1])
            return {k: v["value"] for k, v in top.get("slots", {}).items()}

        return asyncio.run(go())

    return read
