"""The tenant's serving intent model, through the model registry (role "nlu") and the ModelHub.

`load_serving` is what TaskBot calls; the hub loads each version once per process and swaps in a
promoted one without a restart.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from taskbot.nlu.artefact import load_intent_classifier, needs_encoder
from taskbot.nlu.types import IntentClassifier

if TYPE_CHECKING:
    from csbot.context import AppContext

log = logging.getLogger(__name__)

ROLE = "nlu"


def load_serving(ctx: AppContext, tenant_id: str) -> IntentClassifier | None:
    """The intent model serving `tenant_id` (its own, else the global one), or None when none is registered."""
    from csbot.models.hub import ModelNotAvailable

    def loader(path: Path) -> IntentClassifier:
        if needs_encoder(path):
            return load_intent_classifier(path, encoder=ctx.models.embedder(tenant_id))
        return load_intent_classifier(path)

    try:
        return ctx.models.get(ROLE, loader, tenant_id=tenant_id)
    except ModelNotAvailable:
        return None
