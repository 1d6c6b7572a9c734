"""Loads each model role once per process and hands the same instance to every caller."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from csbot.config import Settings

if TYPE_CHECKING:
    from csbot.models.embedder import Embedder


class ModelHub:
    """Lazy, thread-safe, load-once access to shared models (the embedder first of all)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None

    def embedder(self) -> Embedder:
        raise NotImplementedError("filled in by csbot.models.embedder (in progress)")
