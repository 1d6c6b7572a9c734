"""Analytics tab: volume, route mix, resolution and handoff rate, top unanswered (clustered), cache hit
rate, latency percentiles, per-version quality — over a date range, for the signed-in user's tenant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from ops_console.annotations import AnnotationService
from ops_console.ui.queries import analytics, cluster_unanswered
from ops_console.ui.session import require


def build(get_ctx: Callable[[], Any], session: gr.State) -> dict[str, Any]:
    def compute(sess: dict[str, str] | None, days: float) -> tuple[Any, ...]:
        ctx = get_ctx()
        ident = require(ctx, sess)
        stats = ctx.redis_sync().hgetall(ctx.key("cache-stats", ident.tenant_id)) or {}
        a = analytics(ctx.db, ident.tenant_id, float(days or 7), cache_stats=stats)
        queries = [u.query for u in AnnotationService(ctx.db).unanswered(ident.tenant_id, limit=500)]
        try:
            encoder = ctx.models.embedder(ident.tenant_id) if len(queries) >= 3 else None
        except Exception:  # noqa: BLE001 - no embedder: group by exact text
            encoder = None
        clusters = cluster_unanswered(queries, encoder)
        summary = pd.DataFrame([{"measure": k, "value": v} for k, v in a.summary.items()])
        return a.volume, a.routes, a.rates, a.latency, a.versions, clusters, summary

    with gr.Row():
        days = gr.Number(label="Last days", value=7, minimum=0.01, elem_id="an-days")
        tenant = gr.Textbox(label="Tenant", interactive=False, elem_id="an-tenant")
        go = gr.Button("Compute", variant="primary", elem_id="an-compute")
    summary = gr.Dataframe(label="Summary (resolution = no handoff and no thumbs-down)", interactive=False,
                           elem_id="an-summary")
    with gr.Row():
        volume = gr.BarPlot(x="day", y="turns", title="Volume (turns per day)", height=240)
        routes = gr.BarPlot(x="route", y="turns", title="Route mix", height=240)
    with gr.Row():
        rates = gr.LinePlot(x="day", y="rate", color="metric", title="Resolution and handoff rate", height=240)
        latency = gr.BarPlot(x="percentile", y="ms", title="Latency percentiles (ms)", height=240)
    with gr.Row():
        clusters = gr.Dataframe(label="Top unanswered questions (clustered)", interactive=False)
        versions = gr.Dataframe(label="Quality per model version", interactive=False)
    go.click(compute, [session, days], [volume, routes, rates, latency, versions, clusters, summary])
    return {"tenant": tenant}
