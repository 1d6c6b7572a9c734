"""Wiring of the channels into the app: settings, the webhook outbox hook and its dispatcher."""

from __future__ import annotations

import logging
from typing import cast

from fastapi import FastAPI
from starlette.requests import HTTPConnection

from csbot.channels.config import ChannelSettings

log = logging.getLogger(__name__)


def channel_settings(app: FastAPI) -> ChannelSettings:
    """The app's channel settings (from the environment unless a test or embedder set them)."""
    cs = getattr(app.state, "channel_settings", None)
    if cs is None:
        cs = ChannelSettings()
        app.state.channel_settings = cs
    return cast(ChannelSettings, cs)


def settings_of(conn: HTTPConnection) -> ChannelSettings:
    return channel_settings(conn.app)


def install(app: FastAPI) -> None:
    """Register the startup/shutdown hooks of the channels (webhook outbox writer and dispatcher)."""
    from csbot.channels.webhooks.dispatcher import start_dispatcher, stop_dispatcher

    app.state.startup_hooks.append(start_dispatcher)
    app.state.shutdown_hooks.append(stop_dispatcher)
