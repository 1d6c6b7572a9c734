"""The E5S1 reader: Q4_0 decoding and the file layout, on files with known weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csbot.models.e5_file import E5File, E5FormatError, dequantize_q4_0
from csbot.models.packages import E5_WEIGHTS
from tests.csbot.models.e5s1_writer import write_e5s1


def test_dequantize_q4_0_block_layout() -> None:
    # one block: scale 0.5; byte j = low nibble j, high nibble 15 - j
    scale = np.array([0.5], dtype=np.float16).view(np.uint8)
    qs = np.array([(j & 0xF) | ((15 - j) << 4) for j in range(16)], dtype=np.uint8)
    out = dequantize_q4_0(np.concatenate([scale, qs]), 32)
    expected_low = (np.arange(16) - 8) * 0.5  # weights 0..15
    expected_high = ((15 - np.arange(16)) - 8) * 0.5  # weights 16..31
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:16], expected_low)
    np.testing.assert_array_equal(out[16:], expected_high)


def test_reader_returns_the_written_tensors(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    expected = write_e5s1(path, hidden=32, layers=2, ff=64, vocab=96)
    with E5File(path) as e5:
        assert e5.header is not None
        assert (e5.header.hidden, e5.header.layers, e5.header.vocab, e5.header.intermediate) == (
            32,
            2,
            96,
            64,
        )
        assert set(e5.tensors) == set(expected)
        for name, values in expected.items():
            np.testing.assert_allclose(e5.tensor(name), values.reshape(-1), rtol=0, atol=1e-6, err_msg=name)


def test_reader_rejects_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(E5FormatError, match="magic"):
        E5File(path).open()


def test_reader_rejects_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    write_e5s1(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(E5FormatError):
        E5File(path).open()


def test_shipped_file_header_is_multilingual_e5_small() -> None:
    with E5File(E5_WEIGHTS.locate()) as e5:
        h = e5.header
        assert h is not None
        assert (h.hidden, h.layers, h.heads, h.intermediate, h.vocab, h.max_positions, h.type_vocab) == (
            384,
            12,
            12,
            1536,
            250037,
            512,
            2,
        )
        assert len(e5.tensors) == 5 + 12 * 16
