"""Loading any intent-model artefact directory by what it holds (rules or a trained model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taskbot.nlu import embedding_classifier, rules
from taskbot.nlu.types import IntentClassifier


def load_intent_classifier(path: Path, **deps: Any) -> IntentClassifier:
    """The classifier stored in `path`; pass `encoder=` for models trained on sentence embeddings."""
    path = Path(path)
    if (path / embedding_classifier.META_FILE).is_file():
        return embedding_classifier.EmbeddingIntentClassifier.load(path, **deps)
    if (path / rules.ARTEFACT_FILE).is_file():
        return rules.RuleIntentClassifier.load(path)
    raise FileNotFoundError(f"no intent model in {path}")


def needs_encoder(path: Path) -> bool:
    """Whether the artefact in `path` was trained on sentence embeddings (and so must be loaded with one)."""
    meta = Path(path) / embedding_classifier.META_FILE
    if not meta.is_file():
        return False
    return bool(json.loads(meta.read_text(encoding="utf-8"))["config"].get("use_embeddings", True))
