"""`csbot worker` (a Celery worker for the training jobs) and `csbot console ...` (export, jobs, audit)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(help="Operations: export training sets, run and watch training jobs.", no_args_is_help=True)
err = Console(stderr=True)


def worker(
    queues: Annotated[str, typer.Option(help="comma-separated queues to consume: cpu, gpu")] = "cpu,gpu",
    concurrency: Annotated[int, typer.Option(help="jobs run at once (each one a process)")] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
    hostname: Annotated[str, typer.Option(help="worker name (default: celery@<host>)")] = "",
) -> None:
    """Start a Celery worker for the training jobs (Redis broker from CSBOT_REDIS_URL)."""
    from ops_console.celery_app import app as celery_app
    from ops_console.constants import QUEUES

    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in wanted if q not in QUEUES]
    if unknown:
        raise typer.BadParameter(f"unknown queue(s) {unknown}; expected some of {QUEUES}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    argv = ["worker", f"--queues={','.join(wanted)}", f"--concurrency={concurrency}", f"--loglevel={loglevel}",
            "--pool=prefork", "--without-gossip", "--without-mingle"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery_app.worker_main(argv)


def _db() -> tuple[object, object]:
    from csbot.config import get_settings
    from csbot.storage.db import Database
    from csbot.storage.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    return settings, Database(settings.database_url)


@app.command("export")
def export_cmd(
    tenant: Annotated[str, typer.Option(help="tenant id")],
    kind: Annotated[str, typer.Option(help="sft | dpo | nlu")],
    fmt: Annotated[str, typer.Option("--format", help="trl | llamafactory")] = "trl",
    out: Annotated[Path | None, typer.Option(help="write the JSONL here (default: <data_dir>/training-sets/...)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as one JSON object")] = False,
) -> None:
    """Export the tenant's annotations as a training set in the format TRL or LLaMA-Factory reads."""
    from ops_console import export

    settings, db = _db()
    try:
        result = export.export(db, settings.data_dir, tenant, kind, fmt, actor="cli", out=out)  # type: ignore[arg-type,attr-defined]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        db.dispose()  # type: ignore[attr-defined]
    if json_out:
        sys.stdout.write(json.dumps(result.__dict__) + "\n")
    else:
        err.print(f"{result.n_examples} {kind} examples ({fmt}) written to {result.path}")


@app.command("train")
def train_cmd(
    tenant: Annotated[str, typer.Option(help="tenant id")],
    kind: Annotated[str, typer.Option(help="kb-index | nlu | embedder | reranker | sft | dpo")],
    params: Annotated[str, typer.Option(help="job parameters as JSON, e.g. '{\"max_steps\": 50}'")] = "{}",
    queue: Annotated[str | None, typer.Option(help="cpu | gpu (default: the kind's usual queue)")] = None,
    wait: Annotated[bool, typer.Option(help="follow the job's progress until it ends")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="print the final job as one JSON object")] = False,
) -> None:
    """Launch a training job on the workers and (by default) follow it with a progress bar."""
    import redis as redis_sync

    from ops_console.jobs.service import FINISHED, JobCreate, JobService

    settings, db = _db()
    redis = redis_sync.Redis.from_url(settings.redis_url) if settings.redis_url else None  # type: ignore[attr-defined]
    svc = JobService(settings, db, redis)  # type: ignore[arg-type]
    job = svc.launch(tenant, "cli", JobCreate(kind=kind, queue=queue, params=json.loads(params)))
    err.print(f"job {job.id} ({kind}) queued on {job.queue}")
    if wait:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeElapsedColumn(), console=err) as progress:
            task = progress.add_task(kind, total=1.0)
            while job.status not in FINISHED:
                time.sleep(1.0)
                job = svc.get(tenant, job.id)
                progress.update(task, completed=job.progress, description=f"{kind} [{job.status}]")
    db.dispose()  # type: ignore[attr-defined]
    if json_out:
        sys.stdout.write(job.model_dump_json() + "\n")
    else:
        err.print(f"job {job.id}: {job.status} {job.error or ''} {job.result or ''}")
    if job.status in ("failed", "cancelled"):
        raise typer.Exit(1)
