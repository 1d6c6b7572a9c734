"""Live tab: conversations waiting for a person and the operator's own; take over, reply, release."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from ops_console import audit
from ops_console.ui.session import AGENTS, require

DEFAULT_CANNED = [
    "您好，我是人工客服，请问有什么可以帮您？",
    "请稍等，我帮您查询一下。",
    "Hello, a member of our team is here. How can I help?",
    "One moment please, I am checking this for you.",
    "Thanks for waiting — is there anything else I can help with?",
]
QUEUE_COLUMNS = ["conversation_id", "status", "operator", "waiting", "reason", "last_message"]


def canned(ctx: Any, tenant_id: str) -> list[str]:
    from csbot.storage.models import Tenant

    with ctx.db.session() as s:
        row = s.get(Tenant, tenant_id)
        own = (row.settings or {}).get("canned_responses") if row is not None else None
    return [str(x) for x in own] if isinstance(own, list) and own else DEFAULT_CANNED


def build(get_ctx: Callable[[], Any], session: gr.State) -> dict[str, Any]:
    from csbot.channels import handoff
    from csbot.channels.live import messages_after

    def queue(sess: dict[str, str] | None) -> pd.DataFrame:
        if not sess:
            return pd.DataFrame(columns=QUEUE_COLUMNS)
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        items = handoff.queue(ctx, ident.tenant_id, ident.username)
        return pd.DataFrame([{"conversation_id": i.conversation_id, "status": i.status, "operator": i.operator or "",
                              "waiting": f"{int(i.wait_s)} s", "reason": i.reason or "",
                              "last_message": (i.last_message or "")[:60]} for i in items], columns=QUEUE_COLUMNS)

    def transcript(sess: dict[str, str] | None, conv_id: str) -> list[dict[str, str]]:
        if not sess or not conv_id.strip():
            return []
        ctx = get_ctx()
        ident = require(ctx, sess)
        try:
            conv = handoff.get_conversation(ctx, ident.tenant_id, conv_id.strip())
        except handoff.HandoffError as exc:
            raise gr.Error(exc.detail) from exc
        out = []
        for m in messages_after(ctx, conv.id, 0):
            who = {"user": "user", "bot": "assistant", "operator": "assistant", "system": "assistant"}[m["role"]]
            prefix = f"[{m['author'] or 'operator'}] " if m["role"] == "operator" else ("[bot] " if m["role"] == "bot" else "")
            out.append({"role": who, "content": prefix + m["text"]})
        return out

    async def take_over(sess: dict[str, str] | None, conv_id: str) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        try:
            conv = await handoff.accept(ctx, ident, conv_id.strip())
        except handoff.HandoffError as exc:
            raise gr.Error(exc.detail) from exc
        audit.record(ctx.db, ident.tenant_id, ident.username, "conversation.accept", conv.id)
        return f"You own conversation {conv.id} ({conv.status}) since {time.strftime('%H:%M:%S')}."

    async def send(sess: dict[str, str] | None, conv_id: str, text: str) -> tuple[str, str]:
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        if not text.strip():
            raise gr.Error("Type a reply first.")
        try:
            await handoff.operator_message(ctx, ident, conv_id.strip(), text.strip())
        except handoff.HandoffError as exc:
            raise gr.Error(exc.detail) from exc
        audit.record(ctx.db, ident.tenant_id, ident.username, "conversation.reply", conv_id.strip())
        return "", "Sent."

    async def release(sess: dict[str, str] | None, conv_id: str) -> str:
        ctx = get_ctx()
        ident = require(ctx, sess, AGENTS)
        try:
            conv = await handoff.release(ctx, ident, conv_id.strip())
        except handoff.HandoffError as exc:
            raise gr.Error(exc.detail) from exc
        audit.record(ctx.db, ident.tenant_id, ident.username, "conversation.release", conv.id)
        return f"Conversation {conv.id} is back with the bot ({conv.status})."

    def canned_choices(sess: dict[str, str] | None) -> Any:
        if not sess:
            return gr.update()
        ident = require(get_ctx(), sess)
        return gr.update(choices=canned(get_ctx(), ident.tenant_id))

    with gr.Row():
        with gr.Column(scale=2):
            gr.Markdown("### Waiting and active conversations")
            queue_table = gr.Dataframe(headers=QUEUE_COLUMNS, interactive=False, elem_id="live-queue")
            refresh = gr.Button("Refresh queue", elem_id="live-refresh")
        with gr.Column(scale=3):
            conv_id = gr.Textbox(label="Conversation id", elem_id="live-conversation")
            with gr.Row():
                open_btn = gr.Button("Open", elem_id="live-open")
                take_btn = gr.Button("Take over", variant="primary", elem_id="live-take-over")
                release_btn = gr.Button("Release to the bot", elem_id="live-release")
            status = gr.Markdown(elem_id="live-status")
            chat = gr.Chatbot(label="Transcript", height=320, elem_id="live-transcript")
            canned_box = gr.Dropdown(label="Canned responses", choices=DEFAULT_CANNED, elem_id="live-canned")
            reply = gr.Textbox(label="Your reply", lines=2, elem_id="live-reply")
            send_btn = gr.Button("Send", variant="primary", elem_id="live-send")

    def pick(df: pd.DataFrame, evt: gr.SelectData) -> str:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return str(df.iloc[int(row)]["conversation_id"]) if len(df) else ""

    refresh.click(queue, session, queue_table)
    queue_table.select(pick, queue_table, conv_id).then(transcript, [session, conv_id], chat)
    open_btn.click(transcript, [session, conv_id], chat)
    take_btn.click(take_over, [session, conv_id], status).then(transcript, [session, conv_id], chat)
    send_btn.click(send, [session, conv_id, reply], [reply, status]).then(transcript, [session, conv_id], chat)
    release_btn.click(release, [session, conv_id], status).then(queue, session, queue_table)
    canned_box.change(lambda c: c or "", canned_box, reply)
    return {"queue": (queue, queue_table), "canned": (canned_choices, canned_box),
            "transcript": (transcript, conv_id, chat)}
