"""App factory for uvicorn workers: settings from the environment."""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI

from csbot.api.app import create_app
from csbot.config import get_settings


def app_from_env() -> FastAPI:
    logging.basicConfig(level=os.environ.get("CSBOT_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    return create_app(settings, freeze_gc=settings.server.gc_freeze)
