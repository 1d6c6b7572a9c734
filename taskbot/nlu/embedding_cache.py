"""A disk cache of sentence vectors for repeated evaluations (`csbot nlu eval --embedding-cache DIR`).

Embedding 15k training sentences dominates an evaluation run on CPU; when comparing settings on the
same data the vectors never change, so they are kept per encoder version in one `.npz` file.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from taskbot.nlu.embedding_classifier import TextEncoder

log = logging.getLogger(__name__)


class CachedEncoder:
    """Wraps an encoder; vectors of texts seen before come from `<directory>/<version>.npz`."""

    def __init__(self, inner: TextEncoder, directory: Path) -> None:
        self.inner = inner
        self.directory = Path(directory)
        self.version = inner.version
        self._vectors: dict[str, np.ndarray] | None = None

    @property
    def path(self) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.version) or "encoder"
        return self.directory / f"{safe}.npz"

    def _load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            if self.path.is_file():
                with np.load(self.path) as data:
                    self._vectors = {key: data[key] for key in data.files}
        return self._vectors

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            # a one-query call is what serving does: always encoded, so latency figures stay honest
            return self.inner.encode_queries(texts)
        cache = self._load()
        keys = [_key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cache}.items())
        if missing:
            vectors = self.inner.encode_queries([t for _, t in missing])
            cache.update({k: v for (k, _), v in zip(missing, vectors, strict=True)})
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / (self.path.stem + ".tmp.npz")
            np.savez(tmp, **cache)
            tmp.replace(self.path)
            log.info("embedding cache %s: %d vectors", self.path, len(cache))
        return np.stack([cache[k] for k in keys]) if keys else np.empty((0, 0), dtype=np.float32)


def _key(text: str) -> str:
    return hashlib.sha1(("query: " + text).encode("utf-8")).hexdigest()
