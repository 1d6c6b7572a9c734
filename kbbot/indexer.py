"""Builds a version's Milvus collection, re-encoding only questions whose text is new.

Vectors of unchanged questions are copied from the previous version's collection (same
embedder version), so an edit to one item costs one item's encoding, not a full rebuild.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kbbot.dense_index import DenseIndex, DenseRow, collection_name, text_hash
from kbbot.matcher import DOC_PREFIX, Encoder, FaqMatcher
from kbbot.schema import FaqItem

log = logging.getLogger(__name__)

ENCODE_CHUNK = 256
Progress = Callable[[int, int], None]


@dataclass
class IndexStats:
    questions: int
    encoded: int
    reused: int


def build_collection(dense: DenseIndex, encoder: Encoder, tenant_id: str, version: int, items: list[FaqItem],
                     *, reuse_from: int | None = None, progress: Progress | None = None) -> IndexStats:
    docs = FaqMatcher.docs_of(items)
    hashes = [text_hash(d.text) for d in docs]
    known: dict[str, np.ndarray] = {}
    if reuse_from is not None:
        known = dense.vectors_by_hash(collection_name(tenant_id, reuse_from), sorted(set(hashes)))
    todo = sorted({h: d.text for h, d in zip(hashes, docs, strict=True) if h not in known}.items())
    name = dense.create(tenant_id, version, encoder.dim)
    done = 0
    if progress:
        progress(0, len(todo))
    for i in range(0, len(todo), ENCODE_CHUNK):
        chunk = todo[i:i + ENCODE_CHUNK]
        vecs = encoder.encode([t for _, t in chunk], prefix=DOC_PREFIX)
        for (h, _), v in zip(chunk, vecs, strict=True):
            known[h] = v
        done += len(chunk)
        if progress:
            progress(done, len(todo))
    dense.insert(name, [DenseRow(pk=d.pk, faq_id=d.faq_id, text=d.text, vector=known[h])
                        for d, h in zip(docs, hashes, strict=True)])
    stats = IndexStats(questions=len(docs), encoded=len(todo), reused=len(set(hashes)) - len(todo))
    log.info("indexed %s v%d: %s", tenant_id, version, stats)
    return stats
