"""Annotate tab: correct a turn (intent, FAQ, better reply, sensitive), work the unanswered queue in bulk,
and export the training sets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd
from pydantic import ValidationError

from ops_console import export
from ops_console.annotations import AnnotationCreate, AnnotationError, AnnotationService
from ops_console.ui.session import require

ANN_COLUMNS = ["id", "kind", "version", "query", "correction", "author"]


def build(get_ctx: Callable[[], Any], session: gr.State) -> dict[str, Any]:
    def unanswered(sess: dict[str, str] | None) -> pd.DataFrame:
        ctx = get_ctx()
        ident = require(ctx, sess)
        rows = AnnotationService(ctx.db).unanswered(ident.tenant_id, limit=200)
        return pd.DataFrame([{"turn_id": r.turn_id, "query": r.query, "reply": r.reply[:60], "route": r.route or "",
                              "confidence": r.confidence} for r in rows],
                            columns=["turn_id", "query", "reply", "route", "confidence"])

    def listing(sess: dict[str, str] | None) -> pd.DataFrame:
        ctx = get_ctx()
        ident = require(ctx, sess)
        rows = AnnotationService(ctx.db).list(ident.tenant_id, limit=200)
        return pd.DataFrame([{"id": a.id, "kind": a.kind, "version": a.version, "query": a.query[:60],
                              "correction": str(a.correction)[:80], "author": a.author} for a in rows],
                            columns=ANN_COLUMNS)

    def save(sess: dict[str, str] | None, turn_id: str, query: str, kind: str, intent: str, faq_id: str,
             reply: str, note: str) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess)
        try:
            data = AnnotationCreate(kind=kind, turn_id=turn_id.strip() or None, query=query.strip() or None,  # type: ignore[arg-type]
                                    intent=intent.strip() or None, faq_id=faq_id.strip() or None,
                                    reply=reply.strip() or None, sensitive=kind == "sensitive", note=note)
            out = AnnotationService(ctx.db).create(ident.tenant_id, ident.username, data)
        except ValidationError as exc:
            raise gr.Error("; ".join(e["msg"] for e in exc.errors())) from exc
        except AnnotationError as exc:
            raise gr.Error(str(exc)) from exc
        return f"Saved {out.kind} annotation {out.id} (version {out.version})."

    def bulk(sess: dict[str, str] | None, ids: str, intent: str) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess)
        turn_ids = [t.strip() for t in ids.replace("\n", ",").split(",") if t.strip()]
        if not turn_ids or not intent.strip():
            raise gr.Error("Give turn ids and the intent they all have.")
        try:
            done = AnnotationService(ctx.db).bulk(ident.tenant_id, ident.username,
                                                  [AnnotationCreate(kind="intent", turn_id=t, intent=intent.strip())
                                                   for t in turn_ids])
        except AnnotationError as exc:
            raise gr.Error(str(exc)) from exc
        return f"Annotated {len(done)} turns as {intent.strip()}."

    def do_export(sess: dict[str, str] | None, kind: str, fmt: str) -> tuple[str, str]:
        ctx = get_ctx()
        ident = require(ctx, sess)
        out = export.export(ctx.db, ctx.settings.data_dir, ident.tenant_id, kind, fmt, actor=ident.username)
        return out.path, f"{out.n_examples} {kind} examples ({fmt}) in {out.path}"

    with gr.Row():
        with gr.Column():
            gr.Markdown("### Correct a turn")
            turn_id = gr.Textbox(label="Turn id (from Review or the unanswered queue)", elem_id="ann-turn")
            query = gr.Textbox(label="…or the question, for an example without a turn", elem_id="ann-query")
            kind = gr.Radio(["intent", "faq", "reply", "sensitive"], value="reply", label="What was wrong",
                            elem_id="ann-kind")
            intent = gr.Textbox(label="Right intent", elem_id="ann-intent")
            faq_id = gr.Textbox(label="Right FAQ item id (the question is added as a similar question)",
                                elem_id="ann-faq")
            reply = gr.Textbox(label="Better reply (SFT example; with the bot's reply, a DPO pair)", lines=3,
                               elem_id="ann-reply")
            note = gr.Textbox(label="Note")
            save_btn = gr.Button("Save annotation", variant="primary", elem_id="ann-save")
            status = gr.Markdown(elem_id="ann-status")
        with gr.Column():
            gr.Markdown("### Unanswered queue")
            queue_btn = gr.Button("Load unanswered", elem_id="ann-load-unanswered")
            queue = gr.Dataframe(interactive=False, elem_id="ann-unanswered")
            bulk_ids = gr.Textbox(label="Turn ids for bulk intent (comma separated)", elem_id="ann-bulk-ids")
            bulk_intent = gr.Textbox(label="Intent for all of them", elem_id="ann-bulk-intent")
            bulk_btn = gr.Button("Annotate all", elem_id="ann-bulk")
    gr.Markdown("### Annotations and training sets")
    with gr.Row():
        set_kind = gr.Dropdown(list(export.SET_KINDS), value="sft", label="Training set")
        set_fmt = gr.Dropdown(list(export.FORMATS), value="trl", label="Format")
        export_btn = gr.Button("Export JSONL", elem_id="ann-export")
        export_file = gr.File(label="File", elem_id="ann-export-file")
    export_status = gr.Markdown()
    list_btn = gr.Button("Show annotations", elem_id="ann-list")
    table = gr.Dataframe(interactive=False, elem_id="ann-table")

    def pick(df: pd.DataFrame, evt: gr.SelectData) -> tuple[str, str]:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return (str(df.iloc[int(row)]["turn_id"]), str(df.iloc[int(row)]["query"])) if len(df) else ("", "")

    save_btn.click(save, [session, turn_id, query, kind, intent, faq_id, reply, note], status).then(
        listing, session, table)
    queue_btn.click(unanswered, session, queue)
    queue.select(pick, queue, [turn_id, query])
    bulk_btn.click(bulk, [session, bulk_ids, bulk_intent], status).then(unanswered, session, queue)
    export_btn.click(do_export, [session, set_kind, set_fmt], [export_file, export_status])
    list_btn.click(listing, session, table)
    return {"turn_id": turn_id}
