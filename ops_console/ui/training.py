"""Training tab: launch a job, watch its progress, log and loss curve, cancel it; the model registry per
role with the evaluation reports side by side; promote or roll back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from csbot.models.registry import ROLES, ModelRegistry, PromotionRefused, RegistryError
from ops_console.jobs import JOB_KINDS
from ops_console.jobs.service import JobCreate, JobNotFound, JobService
from ops_console.models_service import ModelsService
from ops_console.ui.session import AGENTS, require

JOB_COLUMNS = ["id", "kind", "status", "progress", "queue", "created_by", "version"]
#: report entries shown as columns (the rest stays in the JSON view)
METRIC_COLUMNS = ["primary", "win_rate", "pref_accuracy", "similarity", "regression_ok", "intent_f1",
                  "fix_accuracy", "regression_accuracy", "recall@5", "mrr@10", "dev_accuracy", "heldout", "n_eval"]


def progress_html(job: dict[str, Any] | None) -> str:
    if not job:
        return "<div id='job-progress-text'>No job selected.</div>"
    pct = round(100 * float(job.get("progress", 0.0)))
    return (f"<div style='border:1px solid #999;border-radius:4px;height:22px;width:100%'>"
            f"<div style='background:#3b82f6;height:100%;width:{pct}%'></div></div>"
            f"<div id='job-progress-text'>{job['kind']} {job['status']} — {pct}%</div>")


def build(get_ctx: Callable[[], Any], session: gr.State) -> dict[str, Any]:
    def jobs_service() -> JobService:
        ctx = get_ctx()
        return JobService(ctx.settings, ctx.db, ctx.redis_sync())

    def models_service() -> ModelsService:
        ctx = get_ctx()
        return ModelsService(ModelRegistry(ctx.settings, ctx.db, ctx.redis_sync()))

    def launch(sess: dict[str, str] | None, kind: str, queue: str, params: str) -> tuple[str, str]:
        ident = require(get_ctx(), sess, AGENTS)
        try:
            parsed = json.loads(params or "{}")
            job = jobs_service().launch(ident.tenant_id, ident.username,
                                        JobCreate(kind=kind, queue=queue or None, params=parsed))
        except (ValueError, TypeError) as exc:
            raise gr.Error(str(exc)) from exc
        return job.id, f"Job {job.id} ({kind}) queued on {job.queue}."

    def jobs(sess: dict[str, str] | None) -> pd.DataFrame:
        if not sess:
            return pd.DataFrame(columns=JOB_COLUMNS)
        ident = require(get_ctx(), sess)
        return pd.DataFrame([{"id": j.id, "kind": j.kind, "status": j.status, "progress": round(j.progress, 3),
                              "queue": j.queue, "created_by": j.created_by,
                              "version": (j.result or {}).get("version", "")} for j in jobs_service().list(ident.tenant_id)],
                            columns=JOB_COLUMNS)

    def watch(sess: dict[str, str] | None, job_id: str) -> tuple[str, str, pd.DataFrame]:
        empty = pd.DataFrame({"step": [], "loss": []})
        if not sess or not job_id.strip():
            return progress_html(None), "", empty
        ident = require(get_ctx(), sess)
        svc = jobs_service()
        try:
            job = svc.get(ident.tenant_id, job_id.strip())
        except JobNotFound as exc:
            raise gr.Error(str(exc)) from exc
        events = svc.events(ident.tenant_id, job.id)
        log = "\n".join(e.text for e in events if e.kind == "log")
        if job.error:
            log += f"\nERROR: {job.error}"
        loss = pd.DataFrame([{"step": e.step, "loss": e.value} for e in events if e.kind == "loss"],
                            columns=["step", "loss"])
        return progress_html(job.model_dump()), log, loss if len(loss) else empty

    def cancel(sess: dict[str, str] | None, job_id: str) -> str:
        ident = require(get_ctx(), sess, AGENTS)
        try:
            job = jobs_service().cancel(ident.tenant_id, ident.username, job_id.strip())
        except JobNotFound as exc:
            raise gr.Error(str(exc)) from exc
        return f"Job {job.id}: {job.status} (cancel requested)."

    def registry(sess: dict[str, str] | None, role: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        if not sess:
            return pd.DataFrame(), {}
        ident = require(get_ctx(), sess)
        versions = models_service().list(ident.tenant_id, role).get(role, [])
        rows = []
        for v in versions:
            row: dict[str, Any] = {"id": v.id, "version": v.version, "owner": v.tenant_id, "status": v.status}
            row.update({k: (v.primary if k == "primary" else v.metrics.get(k)) for k in METRIC_COLUMNS
                        if k == "primary" or k in v.metrics})
            row["promoted_by"] = v.promoted_by or ""
            rows.append(row)
        reports = {v.version: v.metrics for v in versions[:4]}
        return pd.DataFrame(rows), reports

    def promote(sess: dict[str, str] | None, version_id: str, force: bool) -> str:
        ident = require(get_ctx(), sess, AGENTS)
        if force and ident.role != "admin":
            raise gr.Error("Only an admin may force a promotion past the evaluation gate.")
        try:
            v = models_service().promote(ident.tenant_id, ident.username, version_id.strip(), force=force)
        except PromotionRefused as exc:
            raise gr.Error(f"Promotion refused: {exc.reason}") from exc
        except (LookupError, RegistryError) as exc:
            raise gr.Error(str(exc)) from exc
        return f"{v.role} {v.version} is now serving."

    def rollback(sess: dict[str, str] | None, role: str) -> str:
        ident = require(get_ctx(), sess, AGENTS)
        try:
            v = models_service().rollback(ident.tenant_id, ident.username, role)
        except RegistryError as exc:
            raise gr.Error(str(exc)) from exc
        return f"{role}: now serving {v.version if v else 'the shipped default'}."

    gr.Markdown("### Launch a job")
    with gr.Row():
        kind = gr.Dropdown(list(JOB_KINDS), value="sft", label="Job", elem_id="train-kind")
        queue = gr.Dropdown(["", "cpu", "gpu"], value="", label="Queue (default: the job's usual one)")
        params = gr.Textbox(label="Parameters (JSON)", value="{}", elem_id="train-params")
        launch_btn = gr.Button("Launch", variant="primary", elem_id="train-launch")
    launch_status = gr.Markdown(elem_id="train-status")
    jobs_table = gr.Dataframe(headers=JOB_COLUMNS, interactive=False, elem_id="train-jobs")
    with gr.Row():
        job_id = gr.Textbox(label="Job id", elem_id="train-job-id")
        cancel_btn = gr.Button("Cancel job", variant="stop", elem_id="train-cancel")
    progress = gr.HTML(progress_html(None), elem_id="train-progress")
    with gr.Row():
        log = gr.Textbox(label="Live log", lines=10, max_lines=14, autoscroll=True, elem_id="train-log")
        loss = gr.LinePlot(x="step", y="loss", title="Loss", height=260, elem_id="train-loss")
    gr.Markdown("### Model registry")
    with gr.Row():
        role = gr.Dropdown(list(ROLES), value="chat-lora", label="Role", elem_id="models-role")
        show_btn = gr.Button("Show versions", elem_id="models-show")
    versions = gr.Dataframe(interactive=False, elem_id="models-versions")
    reports = gr.JSON(label="Evaluation reports, side by side (newest first)", elem_id="models-reports")
    with gr.Row():
        version_id = gr.Textbox(label="Version id", elem_id="models-version-id")
        force = gr.Checkbox(label="Force (admin: past a worse report)")
        promote_btn = gr.Button("Promote", variant="primary", elem_id="models-promote")
        rollback_btn = gr.Button("Roll back this role", elem_id="models-rollback")
    models_status = gr.Markdown(elem_id="models-status")
    timer = gr.Timer(2.0)

    def pick_job(df: pd.DataFrame, evt: gr.SelectData) -> str:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return str(df.iloc[int(row)]["id"]) if len(df) else ""

    def pick_version(df: pd.DataFrame, evt: gr.SelectData) -> str:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return str(df.iloc[int(row)]["id"]) if len(df) else ""

    launch_btn.click(launch, [session, kind, queue, params], [job_id, launch_status]).then(jobs, session, jobs_table)
    jobs_table.select(pick_job, jobs_table, job_id)
    timer.tick(watch, [session, job_id], [progress, log, loss], show_progress="hidden")
    timer.tick(jobs, session, jobs_table, show_progress="hidden")
    cancel_btn.click(cancel, [session, job_id], launch_status)
    show_btn.click(registry, [session, role], [versions, reports])
    role.change(registry, [session, role], [versions, reports])
    versions.select(pick_version, versions, version_id)
    promote_btn.click(promote, [session, version_id, force], models_status).then(registry, [session, role], [versions, reports])
    rollback_btn.click(rollback, [session, role], models_status).then(registry, [session, role], [versions, reports])
    return {"jobs": (jobs, jobs_table), "registry": (registry, role, versions, reports)}
