"""Review tab: search turns by time, route, confidence, feedback, handoff, tag; show a turn's full trace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from ops_console.ui.queries import ReviewFilter, search_turns, turn_detail
from ops_console.ui.session import require

ROUTES = ["", "task", "kb", "chat", "reject", "handoff", "cache", "none"]


def build(get_ctx: Callable[[], Any], session: gr.State) -> dict[str, Any]:
    def search(sess: dict[str, str] | None, days: float, route: str, max_conf: float, feedback: str,
               handoff_only: bool, tag: str, text: str) -> pd.DataFrame:
        ctx = get_ctx()
        ident = require(ctx, sess)
        f = ReviewFilter(days=float(days or 7), route=route or "", max_confidence=None if max_conf >= 1 else max_conf,
                         feedback=feedback, handoff_only=handoff_only, tag=tag.strip(), text=text.strip())
        return search_turns(ctx.db, ident.tenant_id, f)

    def detail(sess: dict[str, str] | None, turn_id: str) -> dict[str, Any]:
        ctx = get_ctx()
        ident = require(ctx, sess)
        return turn_detail(ctx.db, ident.tenant_id, turn_id) if turn_id.strip() else {}

    with gr.Row():
        days = gr.Number(label="Last days", value=7, minimum=0.01, elem_id="review-days")
        route = gr.Dropdown(ROUTES, label="Route", value="", elem_id="review-route")
        max_conf = gr.Slider(0, 1, value=1, step=0.05, label="Confidence at most", elem_id="review-confidence")
        feedback = gr.Radio(["any", "negative", "positive"], value="any", label="Feedback")
        handoff_only = gr.Checkbox(label="Handed off only")
        tag = gr.Textbox(label="Tag")
        text = gr.Textbox(label="Text contains")
    search_btn = gr.Button("Search", variant="primary", elem_id="review-search")
    table = gr.Dataframe(interactive=False, elem_id="review-results")
    turn_id = gr.Textbox(label="Turn id (click a row)", elem_id="review-turn")
    trace = gr.JSON(label="Trace: normalised text, router scores, bot, FAQ or task, versions, latency per step",
                    elem_id="review-trace")

    def pick(df: pd.DataFrame, evt: gr.SelectData) -> str:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return str(df.iloc[int(row)]["turn_id"]) if len(df) else ""

    search_btn.click(search, [session, days, route, max_conf, feedback, handoff_only, tag, text], table)
    table.select(pick, table, turn_id).then(detail, [session, turn_id], trace)
    turn_id.submit(detail, [session, turn_id], trace)
    return {"turn_id": turn_id}
