"""FAQ retrieval sets built from the shared pair and intent files (for eval and calibration).

Pair files (LCQMC/BQ/OPPO TSV `q1, q2, label`): the first questions of all pairs are the standard
questions, the second questions of the positive pairs are paraphrase queries whose answer is
known; questions of another data set are out-of-domain queries that must get no answer.
Intent files (BANKING77 JSONL `text, intent`): one FAQ item per intent whose similar questions
are the training texts; the dev texts are the queries.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel

from kbbot.schema import FaqItem


class EvalQuery(BaseModel):
    query: str
    expected: str | None = None


def read_pairs(path: Path) -> list[tuple[str, str, int]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for rec in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(rec) >= 3 and rec[2].strip() in ("0", "1"):
                rows.append((rec[0].strip(), rec[1].strip(), int(rec[2])))
    return rows


def read_queries(path: Path) -> list[EvalQuery]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(EvalQuery.model_validate_json(line))
    return out


def write_queries(queries: list[EvalQuery], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps(q.model_dump(), ensure_ascii=False) + "\n")


def faq_from_pairs(pairs: list[tuple[str, str, int]], ood: list[str], *, n_ood: int | None = None,
                   seed: int = 13) -> tuple[list[FaqItem], list[EvalQuery]]:
    ids: dict[str, str] = {}
    items: list[FaqItem] = []
    for q1, _, _ in pairs:
        if q1 and q1 not in ids:
            ids[q1] = f"q{len(ids) + 1}"
            items.append(FaqItem(faq_id=ids[q1], question=q1, answer=f"【标准答案】{q1}"))
    standard = set(ids)
    queries = [EvalQuery(query=q2, expected=ids[q1]) for q1, q2, label in pairs
               if label == 1 and q2 and q2 != q1 and q2 not in standard]
    rng = random.Random(seed)
    pool = sorted({q for q in ood if q and q not in standard})
    rng.shuffle(pool)
    n = n_ood if n_ood is not None else max(1, len(queries) // 2)
    queries += [EvalQuery(query=q, expected=None) for q in pool[:n]]
    return items, queries


def faq_from_intents(train: Path, dev: Path, ood: list[str], *, max_similar: int = 50,
                     n_ood: int | None = None, max_queries: int | None = None, seed: int = 13) -> tuple[list[FaqItem], list[EvalQuery]]:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for line in train.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            by_intent[rec["intent"]].append(rec["text"].strip())
    items = []
    for intent, texts in sorted(by_intent.items()):
        uniq = list(dict.fromkeys(texts))
        items.append(FaqItem(faq_id=intent, question=uniq[0], similar=uniq[1:max_similar + 1],
                             answer=f"[answer for {intent}]", lang="en"))
    seen = {q for it in items for q in it.questions()}
    queries = []
    for line in dev.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            if rec["intent"] in by_intent and rec["text"] not in seen:
                queries.append(EvalQuery(query=rec["text"], expected=rec["intent"]))
    rng = random.Random(seed)
    if max_queries is not None:
        rng.shuffle(queries)
        queries = queries[:max_queries]
    pool = sorted(set(ood))
    rng.shuffle(pool)
    n = n_ood if n_ood is not None else max(1, len(queries) // 4)
    queries += [EvalQuery(query=q, expected=None) for q in pool[:n]]
    return items, queries


def clinc_oos(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            if rec["intent"] == "oos":
                out.append(rec["text"])
    return out
