"""`csbot kb ...`: import/export, publish/rollback, eval, calibrate, training, graph import."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from csbot.config import Settings, get_settings
from csbot.paths import shared_data_dir

log = logging.getLogger(__name__)

app = typer.Typer(help="FAQ knowledge base: import, publish, evaluate, calibrate, train.", no_args_is_help=True)
graph_app = typer.Typer(help="Product knowledge graph.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")
err = Console(stderr=True)

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (alone) on stdout")]


@dataclass
class Env:
    settings: Settings
    db: Any
    milvus_uri: str
    redis: Any  # redis.Redis | None

    def service(self):  # type: ignore[no-untyped-def]
        from kbbot.service import KBService

        return KBService(self.db, self.milvus_uri, self.encoder, self.redis, self.settings.redis_prefix)

    def encoder(self):  # type: ignore[no-untyped-def]
        return self.hub.embedder()

    @property
    def hub(self):  # type: ignore[no-untyped-def]
        if not hasattr(self, "_hub"):
            from csbot.models.hub import ModelHub

            self._hub = ModelHub(self.settings, self.db)
        return self._hub

    def context(self):  # type: ignore[no-untyped-def]
        """An AppContext for building the bot's per-tenant state in this process."""
        from redis.asyncio import Redis

        from csbot.context import AppContext
        from csbot.sessions import StateStore

        redis = Redis.from_url(self.settings.redis_url, decode_responses=True) if self.settings.redis_url else None
        return AppContext(settings=self.settings, db=self.db, redis=redis,  # type: ignore[arg-type]
                          states=StateStore(self.db, redis, self.settings.redis_prefix),  # type: ignore[arg-type]
                          models=self.hub, milvus_uri=self.milvus_uri)


@contextmanager
def environment(need_milvus: bool = True) -> Iterator[Env]:
    """Settings, migrated DB, Milvus URI and (optional) Redis for one command.

    Without CSBOT_MILVUS_URI the installation's embedded Milvus Lite server (the one `csbot serve`
    starts on the same data directory) is started for the command and stopped after it.
    """
    import redis as redis_sync

    from csbot.storage.db import Database
    from csbot.storage.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    group = None
    uri = settings.milvus_uri
    if need_milvus and not uri:
        from csbot.services import ServiceGroup, start_milvus

        group = ServiceGroup()
        uri = group.add(start_milvus(settings.data_dir)).url
        err.print(f"[dim]embedded Milvus Lite server at {uri} for this command[/dim]")
    r = redis_sync.Redis.from_url(settings.redis_url, decode_responses=True) if settings.redis_url else None
    try:
        yield Env(settings=settings, db=db, milvus_uri=uri, redis=r)
    finally:
        if need_milvus:
            from kbbot.dense_index import close_client

            close_client(uri)
        if r is not None:
            r.close()
        db.dispose()
        if group is not None:
            group.stop()


@contextmanager
def progress_bar(label: str) -> Iterator[Any]:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as p:
        task = p.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            p.update(task, completed=done, total=total)

        yield update


def emit(data: Any, as_json: bool, human: str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        typer.echo(human if human is not None else json.dumps(data, ensure_ascii=False, indent=2))


# --- FAQ items -----------------------------------------------------------------------------------
@app.command("import")
def import_cmd(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, XLSX or JSONL")],
               tenant: TenantOpt,
               publish: Annotated[bool, typer.Option(help="Publish a new version after importing")] = False,
               replace: Annotated[bool, typer.Option(help="Drop draft items that are not in the file")] = False,
               as_json: JsonOpt = False) -> None:
    """Validate the whole file, then store it in the tenant's draft (nothing on any error)."""
    with environment(need_milvus=publish) as env, progress_bar("indexing") as bar:
        report = env.service().import_file(tenant, file, publish=publish, replace=replace, progress=bar)
    if not report.ok:
        if as_json:
            emit(report.model_dump(), True)
        for p in report.problems:
            err.print(f"[red]{file.name}: {p}[/red]")
        err.print(f"[red]{len(report.problems)} problem(s); nothing was imported[/red]")
        raise typer.Exit(1)
    emit(report.model_dump(), as_json,
         f"imported {report.items} items ({report.created} new, {report.updated} updated) into {tenant}'s draft"
         + (f"; published version {report.published_version}" if report.published_version else ""))


@app.command("export")
def export_cmd(file: Annotated[Path, typer.Argument(dir_okay=False, help="CSV, XLSX or JSONL (by suffix)")],
               tenant: TenantOpt,
               version: Annotated[int | None, typer.Option(help="A published version (default: the draft)")] = None) -> None:
    """Write the draft (or a published version) to a file that re-imports unchanged."""
    with environment(need_milvus=False) as env:
        n = env.service().export(tenant, file, version=version)
    typer.echo(f"wrote {n} items to {file}")


@app.command("publish")
def publish_cmd(tenant: TenantOpt, note: Annotated[str, typer.Option(help="Note kept with the version")] = "",
                as_json: JsonOpt = False) -> None:
    """Make the draft live as a new version (only changed questions are re-encoded)."""
    with environment() as env, progress_bar("indexing") as bar:
        try:
            version = env.service().publish(tenant, note=note, progress=bar)
        except ValueError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    emit({"tenant": tenant, "version": version}, as_json, f"{tenant}: version {version} is live")


@app.command("rollback")
def rollback_cmd(tenant: TenantOpt,
                 version: Annotated[int | None, typer.Option(help="Version to serve (default: previous)")] = None,
                 as_json: JsonOpt = False) -> None:
    """Serve an earlier published version again."""
    with environment() as env:
        try:
            v = env.service().rollback(tenant, version)
        except (ValueError, KeyError) as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    emit({"tenant": tenant, "version": v}, as_json, f"{tenant}: version {v} is live again")


@app.command("versions")
def versions_cmd(tenant: TenantOpt, as_json: JsonOpt = True) -> None:
    """List published versions and the live one."""
    from kbbot.kb_store import KBStore

    with environment(need_milvus=False) as env:
        store = KBStore(env.db)
        emit({"live": store.live_version(tenant), "versions": store.versions(tenant)}, True)


# --- evaluation ----------------------------------------------------------------------------------
def _tenant_kb(env: Env, tenant: str):  # type: ignore[no-untyped-def]
    from kbbot.confidence import default_calibration
    from kbbot.tenant_kb import build_tenant_kb

    ctx = env.context()
    kb = build_tenant_kb(ctx, tenant, default_calibration())
    if kb is None or kb.matcher is None:
        err.print(f"[red]tenant {tenant!r} has no published FAQ (csbot kb import ... --publish)[/red]")
        raise typer.Exit(1)
    return ctx, kb


def _bot_answer_fn(ctx, tenant: str):  # type: ignore[no-untyped-def]
    """The bot's own score+reply path, for end-to-end latency."""
    from csbot.sessions import DialogueState
    from csbot.types import Turn
    from kbbot.bot import KBBot

    loop = asyncio.new_event_loop()
    bot = KBBot()

    async def _load() -> None:
        await bot.load(ctx)
        await bot.tenant(tenant)

    loop.run_until_complete(_load())
    state = DialogueState(tenant_id=tenant, session_id="eval")

    def answer(q: str) -> object:
        async def one() -> object:
            turn = Turn(tenant_id=tenant, session_id="eval", text=q)
            s = await bot.score(turn, state)
            return await bot.reply(turn, state, s.hint)

        return loop.run_until_complete(one())

    def close() -> None:
        loop.run_until_complete(bot.close())
        loop.close()

    return answer, close


@app.command("eval")
def eval_cmd(tenant: TenantOpt,
             queries: Annotated[Path, typer.Option(exists=True, help="JSONL {query, expected}")],
             compare: Annotated[bool, typer.Option(help="Also BM25-only, dense-only, fusion, fusion+rerank")] = False,
             limit: Annotated[int | None, typer.Option(help="Only the first N queries")] = None,
             as_json: JsonOpt = False) -> None:
    """Top-1, MRR@5, recall@5, answered precision, reject recall and latency of the tenant's KB."""
    from csbot.models.embedder import Embedder
    from kbbot.devsets import read_queries
    from kbbot.evaluate import evaluate

    qs = read_queries(queries)[:limit]
    with environment() as env:
        ctx, kb = _tenant_kb(env, tenant)
        qs = [_resolve_expected(q, kb) for q in qs]
        # what the bot serves these queries in (rerank only where a language has a rerank weight)
        served = "rerank" if any(kb.served_mode(q.query)[0] == "rerank" for q in qs) else "fusion"
        modes: tuple[str, ...] = (served,)
        if compare:
            modes = ("bm25", "dense", "fusion") + (("rerank",) if kb.matcher.reranker is not None else ())
        # every query encoded afresh: the bot path runs after the retrieval pass, and a remembered
        # vector would leave the encode out of its latency
        if isinstance(kb.matcher.encoder, Embedder):
            kb.matcher.encoder.remember = False
        answer, close = _bot_answer_fn(ctx, tenant)
        try:
            with progress_bar("eval") as bar:
                reports = evaluate(kb.matcher, qs, kb.calibration, modes=modes, answer_fn=answer, served=served,
                                   progress=bar)
        finally:
            close()
    out: dict[str, Any] = {"tenant": tenant, "version": kb.version, "mode": served,
                           **reports[served].figures()}
    if compare:
        out["compare"] = {("fusion+rerank" if m == "rerank" else m): r.figures() for m, r in reports.items()}
        if kb.matcher.reranker is None:
            out["compare"]["fusion+rerank"] = "no trained reranker (csbot kb train-reranker)"
    emit(out, as_json)


def _resolve_expected(q, kb):  # type: ignore[no-untyped-def]
    """`expected` may be a FAQ id or the standard question's text."""
    if q.expected is None or q.expected in kb.items:
        return q
    by_question = {it.question: it.faq_id for it in kb.items.values()}
    if q.expected in by_question:
        return q.model_copy(update={"expected": by_question[q.expected]})
    return q


@app.command("pair-eval")
def pair_eval_cmd(pairs: Annotated[Path, typer.Option(exists=True, help="TSV q1, q2, label")],
                  dev: Annotated[Path | None, typer.Option(exists=True, help="TSV to choose the threshold on")] = None,
                  model: Annotated[Path | None, typer.Option(help="Reranker directory (default: the serving one)")] = None,
                  scorer: Annotated[str, typer.Option(help="reranker | embedder")] = "reranker",
                  tenant: Annotated[str | None, typer.Option(help="Tenant whose serving reranker to use")] = None,
                  as_json: JsonOpt = False) -> None:
    """Accuracy and F1 of the matcher on question pairs, threshold chosen on --dev."""
    import numpy as np

    from kbbot.devsets import read_pairs
    from kbbot.pair_eval import pair_eval

    with environment(need_milvus=False) as env:
        if scorer == "embedder":
            enc = env.encoder()

            def score(ps: list[tuple[str, str]]) -> np.ndarray:
                a = enc.encode([p[0] for p in ps])
                b = enc.encode([p[1] for p in ps])
                return np.sum(a * b, axis=1)
            name = f"embedder cosine ({enc.version})"
        else:
            from kbbot.reranker import Reranker
            from kbbot.tenant_kb import reranker_for

            found: Reranker | None
            if model is not None:
                found = Reranker(model)
                found.load()
            else:
                found, note = reranker_for(env.context(), tenant or "_global")
                if found is None:
                    err.print(f"[red]{note}[/red]")
                    raise typer.Exit(1)
            score = found.score_pairs  # type: ignore[assignment]  # same signature, other name
            name = f"reranker ({found.version})"
        t0 = time.perf_counter()
        out: dict[str, Any] = dict(pair_eval(score, read_pairs(pairs), read_pairs(dev) if dev else None))
    out.update(scorer=name, pairs=str(pairs), dev=str(dev) if dev else None,
               seconds=round(time.perf_counter() - t0, 1))
    emit(out, as_json)


@app.command("calibrate")
def calibrate_cmd(tenant: Annotated[list[str], typer.Option("--tenant", "-t", help="Tenant id (repeatable)")],
                  queries: Annotated[list[Path], typer.Option(exists=True, help="Dev JSONL {query, expected}, one per --tenant")],
                  target_precision: Annotated[float, typer.Option(help="Answered precision to reach")] = 0.95,
                  write_default: Annotated[Path | None, typer.Option(
                      help="Also write the result as a shipped default calibration JSON")] = None,
                  as_json: JsonOpt = False) -> None:
    """Fit the confidence model and pick the answer/suggest thresholds; stored for the tenant(s).

    With several --tenant/--queries pairs one calibration is fitted on the pooled dev queries (how
    the shipped default is made: Chinese and English dev sets together).
    """
    from kbbot.calibrate import calibrate_sets
    from kbbot.devsets import read_queries
    from kbbot.kb_store import KBStore

    if len(tenant) != len(queries):
        err.print("[red]give one --queries file per --tenant[/red]")
        raise typer.Exit(2)
    with environment() as env:
        sets = []
        base = None
        for t, qf in zip(tenant, queries, strict=True):
            _, kb = _tenant_kb(env, t)
            base = base or kb.calibration
            sets.append((kb.matcher, [_resolve_expected(q, kb) for q in read_queries(qf)]))
        assert base is not None
        fitted_on = ", ".join(f"{t}:{q.name}" for t, q in zip(tenant, queries, strict=True))
        with progress_bar("calibrate") as bar:
            cal = calibrate_sets(sets, base, target_precision=target_precision, fitted_on=fitted_on, progress=bar)
        for t in tenant:
            KBStore(env.db).set_thresholds(t, cal.model_dump())
            if env.redis is not None:  # make every process reload the tenant with the new thresholds
                env.redis.publish(f"{env.settings.redis_prefix}:events:kb-changed", json.dumps({"tenant_id": t}))
    if write_default is not None:
        write_default.write_text(json.dumps(cal.model_dump(), ensure_ascii=False, indent=2) + "\n")
    emit(cal.model_dump(), as_json)


@app.command("devset")
def devset_cmd(kind: Annotated[str, typer.Argument(help="lcqmc | bq | oppo | banking77")],
               out_dir: Annotated[Path, typer.Option(help="Where to write faq.jsonl and queries.jsonl")],
               data_dir: Annotated[Path, typer.Option(help="The shared data folder")] = shared_data_dir(),
               split: Annotated[str, typer.Option(help="dev | train")] = "dev",
               max_similar: Annotated[int, typer.Option(help="Similar questions per intent item")] = 50,
               max_queries: Annotated[int | None, typer.Option(help="Keep the first N in-domain queries")] = None,
               ) -> None:
    """Build an FAQ + queries retrieval set from the shared pair/intent files (see kbbot/devsets.py)."""
    from kbbot.devsets import clinc_oos, faq_from_intents, faq_from_pairs, read_pairs, write_queries
    from kbbot.faq_io import write_file

    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "banking77":
        items, qs = faq_from_intents(data_dir / "banking77/train.jsonl", data_dir / f"banking77/{split}.jsonl",
                                     clinc_oos(data_dir / f"clinc150/{split}.jsonl"), max_similar=max_similar,
                                     max_queries=max_queries)
    else:
        ood_from = "bq" if kind != "bq" else "lcqmc"
        ood = [a for a, _, _ in read_pairs(data_dir / ood_from / f"{split}.tsv")]
        items, qs = faq_from_pairs(read_pairs(data_dir / kind / f"{split}.tsv"), ood)
    write_file(items, out_dir / "faq.jsonl")
    write_queries(qs, out_dir / "queries.jsonl")
    typer.echo(f"{len(items)} items, {len(qs)} queries ({sum(q.expected is None for q in qs)} with no answer) "
               f"in {out_dir}")


# --- training ------------------------------------------------------------------------------------
@app.command("train-reranker")
def train_reranker_cmd(
    tenant: Annotated[str | None, typer.Option(help="Add this tenant's similar questions; register for it")] = None,
    data_dir: Annotated[Path, typer.Option(help="Folder with lcqmc/bq/oppo train.tsv")] = shared_data_dir(),
    datasets: Annotated[str, typer.Option(help="Comma-separated pair sets, each NAME or NAME:MAX_PAIRS")] = "lcqmc,bq,oppo",
    epochs: float = 1.0, batch_size: int = 32, lr: float = 4e-5,
    max_pairs: Annotated[int | None, typer.Option(help="Cap on training pairs (small runs)")] = None,
    train_layers: Annotated[int, typer.Option(help="Train only the top N encoder layers (0 = all)")] = 0,
    num_layers: Annotated[int, typer.Option(help="Keep the bottom N encoder layers (0 = all 12)")] = 6,
    max_length: Annotated[int, typer.Option(help="Token cap per (query, question) pair")] = 64,
    mining: Annotated[str, typer.Option(help="Near misses: bm25 (lexically closest) or dense (closest by the encoder)")] = "bm25",
    dev: Annotated[Path | None, typer.Option(help="Pair TSV for the eval report")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of registering")] = None,
    install_default: Annotated[bool, typer.Option(help="Install as the shared default reranker")] = False,
    artefact: Annotated[Path | None, typer.Option(
        help="Also write the small shipped artefact (changed weights, fp16) here, e.g. kbbot/data/reranker")] = None,
    promote: Annotated[bool, typer.Option(help="Promote the registered version (eval-gated)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the cross-encoder reranker from the shipped encoder on QQ pairs, with an eval report."""
    import shutil
    import tempfile

    from kbbot.devsets import read_pairs
    from kbbot.pair_eval import pair_eval
    from kbbot.reranker import ROLE, Reranker
    from kbbot.tenant_kb import DEFAULT_RERANKER_DIR
    from kbbot.train_reranker import RerankerTrainConfig, train, training_pairs

    sets = [d.strip().split(":", 1) for d in datasets.split(",") if d.strip()]
    try:
        caps = {s[0]: int(s[1]) for s in sets if len(s) == 2}
    except ValueError:
        err.print(f"[red]--datasets {datasets!r}: a cap after ':' must be a whole number[/red]")
        raise typer.Exit(2) from None
    if mining not in ("bm25", "dense"):
        err.print(f"[red]--mining {mining!r}: use bm25 or dense[/red]")
        raise typer.Exit(2)
    cfg = RerankerTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, max_pairs=max_pairs,
                              train_layers=train_layers, num_layers=num_layers, max_length=max_length,
                              pair_files=[data_dir / s[0] / "train.tsv" for s in sets], pair_caps=caps,
                              mining=mining)
    with environment(need_milvus=False) as env:
        items = env.service().items(tenant) if tenant else []
        # dense mining: the encoder that serves dense recall (the candidates the reranker will see)
        encode = env.encoder().encode_queries if mining == "dense" else None
        pairs = training_pairs(cfg, items, encode)
        err.print(f"{len(pairs)} training pairs ({sum(p[2] for p in pairs)} positive)")
        base = env.settings.models_dir / "e5-small"
        tmp = Path(tempfile.mkdtemp(prefix="kb-reranker-"))
        t0 = time.perf_counter()
        with progress_bar("training") as bar:
            train(base, tmp, pairs, cfg, progress=bar)
        seconds = round(time.perf_counter() - t0, 1)
        metrics: dict[str, Any] = {"train_pairs": len(pairs), "train_seconds": seconds}
        dev_file = dev or (data_dir / "lcqmc" / "dev.tsv")
        if dev_file.exists():
            r = Reranker(tmp)
            r.load()
            dp = read_pairs(dev_file)
            half = len(dp) // 2
            rep = pair_eval(r.score_pairs, dp[half:], dp[:half])
            metrics.update(dev_accuracy=rep["accuracy"], dev_f1=rep["f1"], primary=rep["accuracy"],
                           dev_file=str(dev_file))
        result: dict[str, Any] = {"metrics": metrics}
        if artefact is not None:
            from kbbot.reranker_artefact import export_artefact

            result["artefact"] = export_artefact(tmp, base, artefact, {
                "command": "csbot kb train-reranker " + " ".join(sys.argv[3:]),
                "config": {k: str(v) for k, v in cfg.__dict__.items() if k != "pair_files"},
                "data": [str(p.relative_to(data_dir)) if p.is_relative_to(data_dir) else str(p) for p in cfg.pair_files],
                **metrics})
        if out is not None:
            if out.exists():
                shutil.rmtree(out)
            shutil.move(str(tmp), out)
            result["path"] = str(out)
        elif install_default:
            dest = env.settings.models_dir / DEFAULT_RERANKER_DIR
            if dest.exists():
                shutil.rmtree(dest)
            shutil.move(str(tmp), dest)
            result["path"] = str(dest)
        else:
            from csbot.models.registry import GLOBAL_TENANT, ModelRegistry

            reg = ModelRegistry(env.settings, env.db, env.redis)
            info = reg.register(tenant or GLOBAL_TENANT, ROLE, tmp, metrics=metrics, move=True,
                                params={k: str(v) for k, v in cfg.__dict__.items()})
            result.update(version_id=info.id, version=info.version)
            if promote:
                reg.promote(info.id, actor="csbot kb train-reranker")
                result["promoted"] = True
    emit(result, as_json)


@app.command("finetune-embedder")
def finetune_embedder_cmd(
    tenant: TenantOpt,
    epochs: float = 1.0, batch_size: int = 32, lr: float = 2e-5,
    max_pairs: Annotated[int | None, typer.Option(help="Cap on training pairs")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of registering")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the embedder on the tenant's QQ pairs (in-batch + mined hard negatives)."""
    from kbbot.finetune_embedder import EmbedderTrainConfig, finetune

    with environment(need_milvus=False) as env:
        items = env.service().items(tenant)
        if not items:
            err.print(f"[red]tenant {tenant!r} has no FAQ items[/red]")
            raise typer.Exit(1)
        cfg = EmbedderTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, max_pairs=max_pairs)
        with progress_bar("fine-tuning") as bar:
            result = finetune(env.settings.models_dir / "e5-small", items, cfg, out=out, progress=bar,
                              registry=None if out else (env.settings, env.db, env.redis), tenant_id=tenant)
    emit(result, as_json)


# --- graph ---------------------------------------------------------------------------------------
@graph_app.command("import")
def graph_import_cmd(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV subject,relation,object")],
                     tenant: TenantOpt,
                     aliases: Annotated[Path | None, typer.Option(exists=True, help="CSV alias,entity")] = None,
                     as_json: JsonOpt = False) -> None:
    """Validate and replace the tenant's product graph (nothing changes on any error)."""
    from kbbot.graph import read_aliases_file, read_triples_file, store_graph
    from kbbot.kb_store import KBStore

    triples, problems = read_triples_file(file)
    alias_rows: list[tuple[str, str]] = []
    if aliases is not None and not problems:
        alias_rows, alias_problems = read_aliases_file(aliases, {s for s, _, _ in triples})
        problems += alias_problems
    if problems:
        for p in problems:
            err.print(f"[red]{p}[/red]")
        err.print(f"[red]{len(problems)} problem(s); nothing was imported[/red]")
        raise typer.Exit(1)
    with environment(need_milvus=False) as env:
        KBStore(env.db).ensure_tenant(tenant)
        store_graph(env.db, tenant, triples, alias_rows)
        if env.redis is not None:
            env.redis.publish(f"{env.settings.redis_prefix}:events:kb-changed", json.dumps({"tenant_id": tenant}))
    emit({"tenant": tenant, "triples": len(triples), "aliases": len(alias_rows)}, as_json,
         f"{tenant}: graph with {len(triples)} triples and {len(alias_rows)} aliases")
