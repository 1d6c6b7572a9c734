"""Embedder contract: float32 unit vectors of shape (n, dim), input order kept, prefixes applied."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from csbot.models.embedder import Embedder, dir_version
from csbot.models.tiny import build_tiny_encoder
from tests.conftest import MODELS_DIR

TEXTS = [
    "怎么修改收货地址",
    "How do I reset my password?",
    "退款多久到账",
    "a",
    "订单 12345 什么时候发货？" * 5,
]


@pytest.fixture(scope="module")
def tiny(tiny_encoder_dir: Path) -> Embedder:
    embedder = Embedder(tiny_encoder_dir, batch_size=2)
    embedder.load()
    return embedder


def test_encode_returns_unit_float32_rows(tiny: Embedder) -> None:
    vectors = tiny.encode_queries(TEXTS)
    assert vectors.shape == (len(TEXTS), tiny.dim) == (5, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_encode_empty_list_gives_empty_matrix(tiny: Embedder) -> None:
    assert tiny.encode_passages([]).shape == (0, 32)


def test_batched_encoding_equals_one_by_one(tiny: Embedder) -> None:
    batched = tiny.encode_queries(TEXTS)  # batch_size 2 with reordering by length, padded
    single = np.stack([tiny.encode_queries([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_prefixes_are_applied(tiny: Embedder) -> None:
    q = tiny.encode_queries(TEXTS[:2])
    p = tiny.encode_passages(TEXTS[:2])
    np.testing.assert_allclose(tiny.encode(TEXTS[:2], prefix="query: "), q, atol=1e-6)
    np.testing.assert_allclose(tiny.encode(TEXTS[:2], prefix="passage: "), p, atol=1e-6)
    assert not np.allclose(q, p, atol=1e-3)


def test_concurrent_callers_get_the_serial_answers(tiny: Embedder) -> None:
    expected = tiny.encode_queries(TEXTS)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(tiny.encode_queries(TEXTS))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 12
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-5)


def test_version_identifies_the_weights(tiny: Embedder, tiny_encoder_dir_b: Path, tmp_path: Path) -> None:
    other = Embedder(tiny_encoder_dir_b)
    other.load()
    assert tiny.version and other.version and tiny.version != other.version
    assert dir_version(build_tiny_encoder(tmp_path / "again")) == tiny.version  # same seed, same files


def test_load_without_model_says_how_to_prepare(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="csbot models prepare"):
        Embedder(tmp_path / "nothing").load()


@pytest.mark.slow
def test_real_model_ranks_paraphrases_above_unrelated_pairs() -> None:
    model_dir = MODELS_DIR / "e5-small"
    if not (model_dir / "manifest.json").is_file():
        pytest.fail(f"{model_dir} missing: run `csbot models prepare` (make test does)")
    embedder = Embedder(model_dir)
    embedder.load()
    assert embedder.dim == 384
    cases = [
        # (anchor, paraphrase, unrelated)
        ("怎么修改收货地址", "如何更改配送地址", "今天天气怎么样"),
        ("我的订单什么时候发货", "订单多久能发出", "这首歌真好听"),
        ("退款多久能到账", "钱退回来要几天", "附近有什么好吃的餐厅"),
        (
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "The cat sat on the mat.",
        ),
        ("Where is my package?", "Track my order delivery status", "I love chocolate cake"),
    ]
    for anchor, para, other in cases:
        a, p, o = embedder.encode_queries([anchor, para, other])
        assert float(a @ p) > float(a @ o) + 0.03, (anchor, float(a @ p), float(a @ o))
