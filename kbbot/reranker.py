"""The cross-encoder reranker: (query, question) -> logit that they ask the same thing.

Loaded with sentence-transformers' `CrossEncoder` from a `BertForSequenceClassification`
directory (1 logit) written by `csbot kb train-reranker`; raw logits are returned (the confidence
model calibrates them), not sigmoid outputs.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from csbot.models.embedder import dir_version, set_torch_threads

log = logging.getLogger(__name__)

ROLE = "reranker"


class Reranker:
    def __init__(self, model_dir: Path, device: str = "cpu", max_length: int = 64, batch_size: int = 32,
                 torch_threads: int = 0) -> None:
        self.model_dir = Path(model_dir)
        self.device = device
        self.max_length = max_length
        self.batch_size = batch_size
        self.torch_threads = torch_threads
        self.version = ""
        self._model = None
        self._lock = threading.Lock()

    def load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        set_torch_threads(self.torch_threads)
        import torch
        from sentence_transformers import CrossEncoder

        from csbot.models.loading import LOAD_LOCK

        with LOAD_LOCK:
            self._model = CrossEncoder(str(self.model_dir), num_labels=1, max_length=self.max_length,
                                       device=self.device, activation_fn=torch.nn.Identity())
        self.version = dir_version(self.model_dir)
        log.info("reranker %s loaded from %s", self.version, self.model_dir)

    def score_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        if self._model is None:
            self.load()
        assert self._model is not None
        with self._lock:
            out = self._model.predict([list(p) for p in pairs], batch_size=self.batch_size,
                                      show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32).reshape(-1)


def load_reranker(path: Path) -> Reranker:
    r = Reranker(path)
    r.load()
    return r
