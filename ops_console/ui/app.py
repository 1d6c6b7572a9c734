"""The console's Blocks: a sign-in panel, then the tabs (Live, Review, Annotate, Knowledge, Analytics,
Training, Audit), shown only to a signed-in user and scoped to that user's tenant."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd
from fastapi import FastAPI

from ops_console import audit
from ops_console.ui import analytics, annotate, knowledge, live, review, training
from ops_console.ui.session import require, sign_in

CONSOLE_PATH = "/console"


def build_console(app: FastAPI) -> gr.Blocks:
    def get_ctx() -> Any:
        ctx = getattr(app.state, "ctx", None)
        if ctx is None:
            raise gr.Error("The server is still starting; retry in a moment.")
        return ctx

    with gr.Blocks(title="csbot console") as blocks:
        session = gr.State(None)
        header = gr.Markdown("## csbot operator console", elem_id="console-header")
        with gr.Column(visible=True, elem_id="login-panel") as login_panel:
            tenant = gr.Textbox(label="Tenant", elem_id="login-tenant")
            username = gr.Textbox(label="Username", elem_id="login-username")
            password = gr.Textbox(label="Password", type="password", elem_id="login-password")
            login_btn = gr.Button("Sign in", variant="primary", elem_id="login-submit")
            login_msg = gr.Markdown(elem_id="login-message")
        with gr.Column(visible=False, elem_id="main-panel") as main_panel:
            logout_btn = gr.Button("Sign out", size="sm", elem_id="logout")
            with gr.Tabs():
                with gr.Tab("Live", id="live"):
                    live_parts = live.build(get_ctx, session)
                with gr.Tab("Review", id="review"):
                    review.build(get_ctx, session)
                with gr.Tab("Annotate", id="annotate"):
                    annotate.build(get_ctx, session)
                with gr.Tab("Knowledge", id="knowledge"):
                    knowledge.build(get_ctx, session)
                with gr.Tab("Analytics", id="analytics"):
                    an_parts = analytics.build(get_ctx, session)
                with gr.Tab("Training", id="training"):
                    train_parts = training.build(get_ctx, session)
                with gr.Tab("Audit", id="audit"):
                    audit_btn = gr.Button("Show the audit log", elem_id="audit-show")
                    audit_table = gr.Dataframe(interactive=False, elem_id="audit-table")

        def do_login(t: str, u: str, p: str) -> tuple[Any, ...]:
            sess = sign_in(get_ctx(), t, u, p)
            if sess is None:
                # leave the panels alone: re-sending visible=False to the hidden main panel keeps it
                # hidden after a later successful sign-in (seen with Gradio 6.17)
                return (None, "Wrong tenant, username or password, or the account is disabled.",
                        gr.update(), gr.update(), gr.update(), gr.update())
            title = (f"## csbot operator console — {sess['display_name'] or sess['username']} "
                     f"({sess['role']}, tenant {sess['tenant']})")
            return sess, "", gr.update(visible=False), gr.update(visible=True), title, sess["tenant"]

        def do_logout() -> tuple[Any, ...]:
            return None, gr.update(visible=True), gr.update(visible=False), "## csbot operator console"

        def show_audit(sess: dict[str, str] | None) -> pd.DataFrame:
            ctx = get_ctx()
            ident = require(ctx, sess)
            return pd.DataFrame([e.model_dump() for e in audit.entries(ctx.db, ident.tenant_id)])

        queue_fn, queue_table = live_parts["queue"]
        canned_fn, canned_box = live_parts["canned"]
        jobs_fn, jobs_table = train_parts["jobs"]
        login_evt = login_btn.click(do_login, [tenant, username, password],
                                    [session, login_msg, login_panel, main_panel, header, an_parts["tenant"]])
        password.submit(do_login, [tenant, username, password],
                        [session, login_msg, login_panel, main_panel, header, an_parts["tenant"]])
        login_evt.then(_quiet(queue_fn), session, queue_table).then(_quiet(canned_fn), session, canned_box).then(
            jobs_fn, session, jobs_table)
        logout_btn.click(do_logout, None, [session, login_panel, main_panel, header])
        audit_btn.click(show_audit, session, audit_table)
        gr.Timer(3.0).tick(_quiet(queue_fn), session, queue_table, show_progress="hidden")
    return blocks


def _quiet(fn: Any) -> Any:
    """A refresh that shows nothing (rather than an error) to users whose role may not see it."""

    def wrapper(sess: dict[str, str] | None) -> Any:
        try:
            return fn(sess)
        except gr.Error:
            return gr.update()

    return wrapper


def mount_console(app: FastAPI) -> None:
    gr.mount_gradio_app(app, build_console(app), path=CONSOLE_PATH, footer_links=[], show_error=True,
                        ssr_mode=False)
