"""One-text encodes are remembered: concurrent bots scoring the same turn share one forward pass."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from csbot.models.embedder import Embedder


@pytest.fixture
def tiny(tiny_encoder_dir: Path) -> Embedder:
    embedder = Embedder(tiny_encoder_dir)
    embedder.load()
    return embedder


def _count_forwards(embedder: Embedder) -> list[int]:
    calls: list[int] = []
    inner = embedder._encode

    def counted(texts: list[str], prefix: str) -> np.ndarray:
        calls.append(len(texts))
        return inner(texts, prefix)

    embedder._encode = counted  # type: ignore[method-assign]
    return calls


def test_same_text_from_many_threads_is_encoded_once_with_the_same_answer(tiny: Embedder) -> None:
    expected = tiny.encode_queries(["运费怎么算", "other"])[0]  # batch path: not remembered
    calls = _count_forwards(tiny)
    results: list[np.ndarray] = []
    start = threading.Barrier(6)

    def work() -> None:
        start.wait()
        results.append(tiny.encode_queries(["运费怎么算"]))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]
    assert len(results) == 6
    for r in results:
        np.testing.assert_allclose(r[0], expected, atol=1e-5)


def test_remembered_vectors_are_copies_and_keyed_by_prefix(tiny: Embedder) -> None:
    first = tiny.encode_queries(["退款多久到账"])
    first[0, :] = 0.0  # a caller scribbling on its result must not corrupt the next caller's
    again = tiny.encode_queries(["退款多久到账"])
    np.testing.assert_allclose(np.linalg.norm(again[0]), 1.0, atol=1e-5)
    passage = tiny.encode_passages(["退款多久到账"])
    assert not np.allclose(again, passage, atol=1e-3)
