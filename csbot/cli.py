"""`csbot`: the admin's command line. Subcommands of other packages come from the `csbot.cli` entry points."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from csbot.channels.cli import user_app
from csbot.config import get_settings
from csbot.gdpr_cli import gdpr_app

CLI_ENTRY_POINTS = "csbot.cli"

app = typer.Typer(help="csbot: self-hosted customer-service bot.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
tenant_app = typer.Typer(help="Tenants.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys (stored hashed, shown once).", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
demo_app = typer.Typer(help="The bundled demo tenant.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(apikey_app, name="apikey")
app.add_typer(config_app, name="config")
app.add_typer(demo_app, name="demo")
app.add_typer(user_app, name="user")
app.add_typer(gdpr_app, name="gdpr")

log = logging.getLogger("csbot")


def _setup_logging() -> None:
    level = os.environ.get("CSBOT_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from csbot.storage.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo(f"database at {settings.masked()['database_url']} is up to date")


@tenant_app.command("create")
def tenant_create(tenant_id: str, name: Annotated[str | None, typer.Option(help="Display name")] = None) -> None:
    """Create a tenant (a no-op when it exists)."""
    from csbot.storage.db import Database
    from csbot.tenants import TenantError, create_tenant

    db = Database(get_settings().database_url)
    try:
        _, created = create_tenant(db, tenant_id, name)
    except TenantError as exc:
        _fail(str(exc))
    typer.echo(f"tenant {tenant_id} {'created' if created else 'exists'}")


@apikey_app.command("create")
def apikey_create(tenant: Annotated[str, typer.Option(help="Tenant id")],
                  name: Annotated[str, typer.Option(help="What the key is for")] = "",
                  scopes: Annotated[str, typer.Option(help="Comma-separated scopes")] = "") -> None:
    """Create an API key; the key is printed alone on the last line (shown only this once)."""
    from csbot.storage.db import Database
    from csbot.tenants import TenantError, create_api_key

    db = Database(get_settings().database_url)
    try:
        key = create_api_key(db, tenant, name, [s.strip() for s in scopes.split(",") if s.strip()] or None)
    except TenantError as exc:
        _fail(str(exc))
    typer.echo(f"API key for tenant {tenant} (store it now; it is not shown again):")
    typer.echo(key)


@apikey_app.command("revoke")
def apikey_revoke(key: str) -> None:
    """Revoke an API key."""
    from csbot.storage.db import Database
    from csbot.tenants import revoke_api_key

    if not revoke_api_key(Database(get_settings().database_url), key):
        _fail("no such API key")
    typer.echo("revoked")


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration, secrets masked."""
    typer.echo(json.dumps(get_settings().masked(), indent=2, ensure_ascii=False, default=str))


@demo_app.command("load")
def demo_load() -> None:
    """Seed the demo tenant: tenant, word lists, FAQ, product graph; prints the demo API key last."""
    typer.echo(_load_demo(get_settings()))


def _load_demo(settings) -> str:  # type: ignore[no-untyped-def]
    """Migrate, seed the demo tenant and run the bots' own imports of its data; returns its API key."""
    from csbot.demo_tenant import seed_demo_tenant
    from csbot.storage.db import Database
    from csbot.storage.migrate import upgrade

    upgrade(settings.database_url)
    key = seed_demo_tenant(Database(settings.database_url), settings)
    for argv in _demo_imports():
        typer.echo("$ csbot " + " ".join(argv), err=True)
        try:
            app(argv, standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                _fail(f"`csbot {' '.join(argv)}` failed with exit code {exc.code}")
    return key


def _demo_imports() -> list[list[str]]:
    """The bots' own import commands for the demo data (each bot owns its import and validation)."""
    from csbot.demo.loader import demo_path

    cmds = [["kb", "import", str(demo_path("faq.jsonl")), "--tenant", "demo", "--publish"]]
    groups = {ep.name for ep in entry_points(group=CLI_ENTRY_POINTS)}
    if "kb" in groups and _has_command("kb", "graph"):
        cmds.append(["kb", "graph", "import", str(demo_path("products.csv")), "--tenant", "demo",
                     "--aliases", str(demo_path("product_aliases.csv"))])
    return [c for c in cmds if c[0] in groups]


def _has_command(group: str, name: str) -> bool:
    sub = _LOADED.get(group)
    if sub is None:
        return False
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in sub.registered_commands}
    names |= {g.name for g in sub.registered_groups if g.name}
    return name in names


@app.command()
def serve(port: Annotated[int | None, typer.Option(help="Port to listen on [default: settings.port]")] = None,
          host: Annotated[str | None, typer.Option(help="Interface to bind [default: settings.host]")] = None,
          workers: Annotated[int, typer.Option(help="Worker processes")] = 1) -> None:
    """Start the API (with console and widget) on an installation that is set up.

    Without CSBOT_REDIS_URL / CSBOT_MILVUS_URI a private Redis and the Milvus Lite server are
    started beside it and stopped with it.
    """
    from csbot.services import ServiceGroup

    settings = get_settings()
    group = ServiceGroup()
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets the
    # `finally` below stop the embedded Redis and Milvus instead of leaving them behind.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        env = _embedded_env(settings, group)
        if settings.models.torch_threads == 0:
            # An API worker encodes one short query per request; with torch's default (one intra-op
            # thread per core) the threads of concurrent requests and of the other workers spin against
            # each other: measured 24 ms CPU per e5 query encode with 1 thread vs 420 ms with the default
            # on our busy 2-core machine (docs/performance.md, "Load"). Parallelism comes from workers.
            env["CSBOT_MODELS__TORCH_THREADS"] = "1"
            # torch.set_num_threads only reaches the thread that calls it; encodes run in worker
            # threads, which take their OpenMP pool size from the environment
            env.setdefault("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
        os.environ.update(env)
        _run_api(host or settings.host, port or settings.port, workers)
    finally:
        group.stop()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _embedded_env(settings, group) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from csbot.services import start_milvus, start_redis

    env: dict[str, str] = {}
    if not settings.redis_url:
        redis = group.add(start_redis(settings.data_dir))
        env["CSBOT_REDIS_URL"] = redis.url
        typer.echo(f"embedded Redis at {redis.url}", err=True)
    if not settings.milvus_uri:
        milvus = group.add(start_milvus(settings.data_dir))
        env["CSBOT_MILVUS_URI"] = milvus.url
        typer.echo(f"Milvus Lite server at {milvus.url}", err=True)
    return env


def _run_api(host: str, port: int, workers: int) -> None:
    import uvicorn

    from csbot.api.server import uvicorn_options

    get_settings.cache_clear()
    uvicorn.run("csbot.api.factory:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=os.environ.get("CSBOT_LOG_LEVEL", "info").lower(), **uvicorn_options(get_settings()))


@app.command()
def up(port: Annotated[int, typer.Option(help="API port")] = 8000,
       host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
       shop_port: Annotated[int, typer.Option(help="Demo shop backend port")] = 8100,
       worker: Annotated[bool, typer.Option(help="Start a Celery worker")] = True,
       demo_port: Annotated[int, typer.Option(help="Demo shop page (embeds the widget) port")] = 8300) -> None:
    """Start everything on embedded defaults: Redis, Milvus Lite, demo shop, API, worker. Ctrl-C stops it all."""
    from csbot.demo.shop_process import start_shop
    from csbot.services import ServiceGroup, start_process, wait_for_port

    _setup_logging()
    settings = get_settings()
    group = ServiceGroup()
    stopping = False

    def on_signal(signum, frame):  # type: ignore[no-untyped-def]
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        env = _embedded_env(settings, group)
        shop = start_shop(shop_port, settings.data_dir / "shop.db", log_path=settings.data_dir / "logs" / "shop.log")
        env["CSBOT_SHOP_URL"] = shop.url
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        key = _load_demo(settings)
        _purge_expired(settings)
        csbot_bin = str(Path(sys.executable).with_name("csbot"))
        api = group.add(start_process("api", [csbot_bin, "serve", "--host", host, "--port", str(port)],
                                      settings.data_dir / "logs", env=env, port=None))
        wait_for_port(host if host != "0.0.0.0" else "127.0.0.1", port, 300, api.proc)
        if worker and "worker" in {c.name for c in app.registered_commands}:
            group.add(start_process("worker", [csbot_bin, "worker"], settings.data_dir / "logs", env=env))
        base = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
        from csbot.widget.demo_site import start_demo_site

        demo_site = group.add(start_demo_site(demo_port, base, settings.data_dir / "logs"))
        typer.echo("")
        typer.echo("csbot is up:")
        typer.echo(f"  API         {base}/v1/chat   (docs: {base}/docs)")
        typer.echo(f"  console     {base}/console")
        typer.echo(f"  widget demo {demo_site.url}   (a shop page on another origin embedding {base}/widget.js)")
        typer.echo(f"  shop API    {shop.url}")
        typer.echo(f"  logs        {settings.data_dir / 'logs'}")
        typer.echo(f"  demo key    {key}")
        typer.echo("")
        typer.echo(f"""  try: curl -s {base}/v1/chat -H 'Authorization: Bearer {key}' \\
         -H 'Content-Type: application/json' -d '{{"session_id": "s1", "text": "运费怎么算？"}}'""")
        typer.echo("\nPress Ctrl-C to stop.")
        while not stopping:
            dead = group.dead()
            if dead or not shop.alive():
                names = [d.name for d in dead] or ["shop"]
                typer.secho(f"stopped unexpectedly: {names}; see {settings.data_dir / 'logs'}", err=True,
                            fg=typer.colors.RED)
                break
            time.sleep(0.5)
    finally:
        typer.echo("stopping...", err=True)
        group.stop()
        try:
            shop.stop()  # type: ignore[possibly-undefined]
        except NameError:
            pass
        typer.echo("stopped.", err=True)


def _purge_expired(settings) -> None:  # type: ignore[no-untyped-def]
    """Retention at start-up: conversations older than a tenant's `retention_days` go (see csbot.gdpr)."""
    from csbot.gdpr import _redis, purge_expired
    from csbot.storage.db import Database

    db = Database(settings.database_url)
    try:
        for r in purge_expired(db, redis=_redis(settings.redis_url), prefix=settings.redis_prefix):
            log.info("retention: %s: %d conversations purged", r.tenant_id, r.conversations)
    except Exception as exc:  # noqa: BLE001 - a purge failure must not stop the service; logged
        log.warning("retention purge at start-up failed: %s", exc)
    finally:
        db.dispose()


_LOADED: dict[str, typer.Typer] = {}


def _mount_plugins() -> None:
    for ep in sorted(entry_points(group=CLI_ENTRY_POINTS), key=lambda e: e.name):
        try:
            obj = ep.load()
        except ImportError as exc:  # a package being developed must not break every other command
            log.debug("csbot %s unavailable: %s", ep.name, exc)
            continue
        if isinstance(obj, typer.Typer):
            _LOADED[ep.name] = obj
            app.add_typer(obj, name=ep.name)
        elif callable(obj):
            app.command(name=ep.name)(obj)


_mount_plugins()
