"""Knowledge tab: FAQ editor (items, similar questions, import with the validation report, draft ->
publish -> rollback), synonyms and the sensitive-word lexicon, task domains (view, validate, reload),
chitchat patterns. Each part goes through its owner's service; every change is audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from csbot.lexicon import LexiconEntry, bump_version, read_entries, replace_entries
from ops_console import audit
from ops_console.ui.session import AGENTS, require

LEXICON_KINDS = ["sensitive", "synonym", "stopword", "dictionary"]


def _kb_service(ctx: Any) -> Any:
    from kbbot.service import KBService

    return KBService(ctx.db, ctx.milvus_uri, lambda: ctx.models.embedder(), ctx.redis_sync(), ctx.settings.redis_prefix)


def build(get_ctx: Callable[[], Any], session: gr.State) -> dict[str, Any]:
    def faq_items(sess: dict[str, str] | None) -> tuple[pd.DataFrame, str]:
        ctx = get_ctx()
        ident = require(ctx, sess)
        from kbbot.kb_store import KBStore

        store = KBStore(ctx.db)
        items = store.draft_items(ident.tenant_id)
        df = pd.DataFrame([{"faq_id": i.faq_id, "question": i.question, "answer": i.answer[:80],
                            "similar": " | ".join(i.similar), "enabled": i.enabled} for i in items],
                          columns=["faq_id", "question", "answer", "similar", "enabled"])
        versions = store.versions(ident.tenant_id)
        return df, f"Draft: {len(items)} items. Live version: {store.live_version(ident.tenant_id)}. Versions: " \
                   + ", ".join(str(v["version"]) for v in versions)

    def save_item(sess: dict[str, str] | None, faq_id: str, question: str, answer: str, similar: str) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        from kbbot.schema import FaqItem

        item = FaqItem(faq_id=faq_id.strip(), question=question.strip(), answer=answer.strip(),
                       similar=[s.strip() for s in similar.splitlines() if s.strip()])
        problems = _kb_service(ctx).save_item(ident.tenant_id, item)
        if problems:
            return "Not saved: " + "; ".join(str(p) for p in problems)
        audit.record(ctx.db, ident.tenant_id, ident.username, "kb.item.save", item.faq_id)
        return f"Saved {item.faq_id} in the draft (publish to serve it)."

    def import_file(sess: dict[str, str] | None, path: str | None) -> dict[str, Any]:
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        if not path:
            raise gr.Error("Choose a file (xlsx, csv or jsonl).")
        report = _kb_service(ctx).import_file(ident.tenant_id, Path(path))
        audit.record(ctx.db, ident.tenant_id, ident.username, "kb.import", Path(path).name, {"ok": report.ok})
        return report.model_dump(mode="json")  # type: ignore[no-any-return]

    def publish(sess: dict[str, str] | None) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        try:
            version = _kb_service(ctx).publish(ident.tenant_id, note=f"console {ident.username}")
        except ValueError as exc:
            raise gr.Error(str(exc)) from exc
        audit.record(ctx.db, ident.tenant_id, ident.username, "kb.publish", str(version))
        return f"Published version {version}."

    def rollback(sess: dict[str, str] | None) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        try:
            version = _kb_service(ctx).rollback(ident.tenant_id)
        except ValueError as exc:
            raise gr.Error(str(exc)) from exc
        audit.record(ctx.db, ident.tenant_id, ident.username, "kb.rollback", str(version))
        return f"Serving version {version} again."

    def lexicon(sess: dict[str, str] | None, kind: str) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess)
        return "\n".join(",".join((e.term, e.value, e.category)).rstrip(",")
                         for e in read_entries(ctx.db, ident.tenant_id, kind))

    async def save_lexicon(sess: dict[str, str] | None, kind: str, text: str) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        entries = []
        for line in text.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if parts and parts[0]:
                entries.append(LexiconEntry(parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""))
        n = replace_entries(ctx.db, ident.tenant_id, kind, entries)
        await bump_version(ctx.redis, ctx.settings.redis_prefix, ident.tenant_id, kind)
        audit.record(ctx.db, ident.tenant_id, ident.username, "lexicon.replace", kind, {"entries": n})
        return f"{n} {kind} entries stored; every server reloads them on the next turn."

    def domains(sess: dict[str, str] | None) -> tuple[pd.DataFrame, str]:
        ctx = get_ctx()
        ident = require(ctx, sess)
        from taskbot.bot import resolve_domain_dir
        from taskbot.domain import DomainLoadError, load_domain_dir

        directory = resolve_domain_dir(ident.tenant_id, _tenant_setting(ctx, ident.tenant_id, "task_domains"),
                                       ctx.settings.data_dir)
        if directory is None:
            return pd.DataFrame(), "This tenant has no task domains."
        try:
            dset = load_domain_dir(directory)
        except DomainLoadError as exc:
            return pd.DataFrame(), f"{directory}: INVALID\n" + "\n".join(str(e) for e in exc.errors)
        rows = [{"domain": name, "intents": ", ".join(d.intents), "slots": ", ".join(s.name for s in d.slot_specs())}
                for name, d in dset.domains.items()]
        return pd.DataFrame(rows), f"{directory}: valid ({len(rows)} domains)"

    async def reload_domains(sess: dict[str, str] | None) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        await ctx.redis.publish(ctx.key("events", "task-changed"), json.dumps({"tenant_id": ident.tenant_id}))
        audit.record(ctx.db, ident.tenant_id, ident.username, "task.reload", ident.tenant_id)
        return "Reload requested: every server rereads the domains on the next turn."

    def patterns(sess: dict[str, str] | None) -> pd.DataFrame:
        ctx = get_ctx()
        ident = require(ctx, sess)
        from chatbot.tenant_store import read_tenant

        data = read_tenant(ctx.db, ident.tenant_id)
        return pd.DataFrame([{"name": getattr(p, "name", ""), "spec": str(p)[:160]} for p in data.patterns],
                            columns=["name", "spec"])

    with gr.Tab("FAQ"):
        with gr.Row():
            faq_btn = gr.Button("Load draft", elem_id="kb-load")
            publish_btn = gr.Button("Publish draft", variant="primary", elem_id="kb-publish")
            rollback_btn = gr.Button("Roll back", elem_id="kb-rollback")
        kb_status = gr.Markdown(elem_id="kb-status")
        faq_table = gr.Dataframe(interactive=False, elem_id="kb-items")
        with gr.Row():
            faq_id = gr.Textbox(label="FAQ id")
            question = gr.Textbox(label="Question")
            answer = gr.Textbox(label="Answer", lines=2)
            similar = gr.Textbox(label="Similar questions (one a line)", lines=3)
        save_btn = gr.Button("Save item in draft")
        with gr.Row():
            upload = gr.File(label="Import FAQ file", type="filepath")
            report = gr.JSON(label="Import validation report")
    with gr.Tab("Lexicon"):
        kind = gr.Dropdown(LEXICON_KINDS, value="sensitive", label="List")
        lex = gr.Textbox(label="term,value,category — one a line (sensitive: value = block|mask|escalate; "
                               "synonym: value = canonical word)", lines=10, elem_id="lex-text")
        with gr.Row():
            lex_load = gr.Button("Load")
            lex_save = gr.Button("Save and reload", variant="primary")
        lex_status = gr.Markdown()
    with gr.Tab("Task domains"):
        with gr.Row():
            dom_btn = gr.Button("View and validate")
            dom_reload = gr.Button("Reload on all servers")
        dom_status = gr.Markdown()
        dom_table = gr.Dataframe(interactive=False)
    with gr.Tab("Chitchat patterns"):
        pat_btn = gr.Button("Show the tenant's patterns")
        pat_table = gr.Dataframe(interactive=False)

    faq_btn.click(faq_items, session, [faq_table, kb_status])
    publish_btn.click(publish, session, kb_status)
    rollback_btn.click(rollback, session, kb_status)
    save_btn.click(save_item, [session, faq_id, question, answer, similar], kb_status)
    upload.upload(import_file, [session, upload], report)
    lex_load.click(lexicon, [session, kind], lex)
    kind.change(lexicon, [session, kind], lex)
    lex_save.click(save_lexicon, [session, kind, lex], lex_status)
    dom_btn.click(domains, session, [dom_table, dom_status])
    dom_reload.click(reload_domains, session, dom_status)
    pat_btn.click(patterns, session, pat_table)
    return {}


def _tenant_setting(ctx: Any, tenant_id: str, key: str) -> Any:
    from csbot.storage.models import Tenant

    with ctx.db.session() as s:
        row = s.get(Tenant, tenant_id)
        return (row.settings or {}).get(key) if row is not None else None
