"""KB-Bot benchmark: indexing throughput and query latency against the bare encoder and Milvus.

    .venv/bin/python bench/bench_kb.py --items 10000 --similar 5 --queries 200 --json

Items are built from the shared pair files' questions (each item: a real question plus `similar`
others, made distinct by an item number so nothing deduplicates away). Everything runs in one
process on a Milvus Lite file in a temp dir (or `--milvus-uri http://...` for a server); the
ratios (ours / bare) are the figures that transfer between machines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from csbot.paths import shared_data_dir


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values), q)), 2)


def build_items(n: int, similar: int, data_dir: Path):  # type: ignore[no-untyped-def]
    from kbbot.devsets import read_pairs
    from kbbot.schema import FaqItem

    questions: list[str] = []
    for name in ("lcqmc", "bq", "oppo"):
        for split in ("train", "dev"):
            for a, b, _ in read_pairs(data_dir / name / f"{split}.tsv"):
                questions += [a, b]
    questions = list(dict.fromkeys(q for q in questions if q))
    items = []
    k = 0
    for i in range(n):
        qs = []
        for _ in range(similar + 1):
            qs.append(f"{questions[k % len(questions)]} {i}")
            k += 1
        items.append(FaqItem(faq_id=f"b{i}", question=qs[0], similar=qs[1:], answer=f"answer {i}"))
    return items, questions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--similar", type=int, default=5)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--bare-encode", type=int, default=2000, help="texts for the bare-encoder throughput")
    ap.add_argument("--models-dir", type=Path, default=Path(os.environ.get("CSBOT_MODELS__DIR", "var/models")))
    ap.add_argument("--reranker", type=Path, default=None,
                    help="reranker dir (default: the prepared shipped one, <models-dir>/kb-reranker)")
    ap.add_argument("--no-reranker", action="store_true", help="fusion only")
    ap.add_argument("--data-dir", type=Path, default=shared_data_dir())
    ap.add_argument("--milvus-uri", default="")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from csbot.models.embedder import Embedder
    from csbot.storage.db import Database
    from csbot.storage.migrate import upgrade
    from kbbot.confidence import default_calibration
    from kbbot.dense_index import DenseIndex
    from kbbot.matcher import DOC_PREFIX, FaqMatcher, MatchConfig
    from kbbot.reranker import Reranker
    from kbbot.service import KBService
    from kbbot.text import TextProcessor

    tmp = Path(tempfile.mkdtemp(prefix="bench-kb-"))
    uri = args.milvus_uri or str(tmp / "milvus.db")
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(db_url)
    db = Database(db_url)
    enc = Embedder(args.models_dir / "e5-small")
    enc.load()
    items, pool = build_items(args.items, args.similar, args.data_dir)
    n_questions = sum(len(it.questions()) for it in items)

    # bare encoder throughput on texts of the same kind
    sample = [f"{q} {i}" for i, q in enumerate(pool[: args.bare_encode])]
    t0 = time.perf_counter()
    enc.encode(sample, prefix=DOC_PREFIX)
    bare_qps = len(sample) / (time.perf_counter() - t0)

    svc = KBService(db, uri, lambda: enc, None, "bench")
    svc.store.import_items("bench", items)
    t0 = time.perf_counter()
    svc.publish("bench")
    index_s = time.perf_counter() - t0
    index_qps = n_questions / index_s

    reranker = None
    rr_dir = args.reranker or args.models_dir / "kb-reranker"
    if not args.no_reranker and (rr_dir / "config.json").is_file():
        reranker = Reranker(rr_dir)
        reranker.load()
    cal = default_calibration()
    matcher = FaqMatcher("bench", 1, svc.items("bench", 1), TextProcessor(), enc, DenseIndex(uri), MatchConfig(),
                         reranker=reranker)
    matcher.load()
    rng = np.random.default_rng(7)
    queries = [pool[int(i)] for i in rng.integers(0, min(len(pool), n_questions), args.queries)]
    for q in queries[:5]:  # warm-up
        matcher.match(q, cal)

    def timed(fn, q):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        fn(q)
        return (time.perf_counter() - t) * 1000

    vec = enc.encode([queries[0]])[0]
    results: dict[str, object] = {
        "items": args.items, "questions": n_questions, "mode": matcher.mode, "milvus": "server" if args.milvus_uri else "lite-file",
        "bare_encode_qps": round(bare_qps, 1), "index_qps": round(index_qps, 1),
        "index_vs_bare_encode": round(index_qps / bare_qps, 3), "index_seconds": round(index_s, 1),
    }
    bare_enc = [timed(lambda q: enc.encode([q]), q) for q in queries]
    bare_milvus = [timed(lambda q: matcher.dense.search(matcher.collection, vec[None, :], 50), q) for q in queries]
    results["bare_encode_ms"] = {"p50": percentile(bare_enc, 50), "p99": percentile(bare_enc, 99)}
    results["bare_milvus_ms"] = {"p50": percentile(bare_milvus, 50), "p99": percentile(bare_milvus, 99)}
    if reranker is not None:  # one forward over the rerank_k pairs of a query, batched
        heads = [[c.text for c in matcher.retrieve(q)[: matcher.config.rerank_k]] for q in queries[:20]]
        rr = [timed(lambda h: reranker.score_pairs([(queries[0], t) for t in h]), h) for h in heads]
        results["rerank_only_ms"] = {"p50": percentile(rr, 50), "p99": percentile(rr, 99),
                                     "pairs": matcher.config.rerank_k, "reranker": reranker.version}
    for clients in (1, 8):
        with ThreadPoolExecutor(clients) as ex:
            t0 = time.perf_counter()
            lat = list(ex.map(lambda q: timed(lambda x: matcher.match(x, cal), q), queries))
            wall = time.perf_counter() - t0
        results[f"query_ms_c{clients}"] = {"p50": percentile(lat, 50), "p99": percentile(lat, 99),
                                           "qps": round(len(queries) / wall, 1)}
    results["query_p50_vs_bare_encode_p50"] = round(
        results["query_ms_c1"]["p50"] / max(1e-9, results["bare_encode_ms"]["p50"]), 2)  # type: ignore[index]
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    else:
        for k, v in results.items():
            print(f"{k:32s} {v}")
    db.dispose()


if __name__ == "__main__":
    main()
