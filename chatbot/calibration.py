"""Fit the retrieval similarity (cosine + overlap -> probability) on labelled paraphrase pairs.

Chinese: LCQMC and OPPO pairs (short, open-domain and conversational questions, like small talk).
English: pairs of CLINC150 utterances, positive when they share an intent. Fitted on the train
files, reported on the dev files; the threshold maximises F0.5 on the fitting pairs because a wrong
chitchat reply is worse than handing the message on to generation.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chatbot.retrieval import Calibration, Encoder, features

log = logging.getLogger(__name__)

LabelledPair = tuple[str, str, int]


def read_tsv_pairs(path: Path, limit: int | None = None, seed: int = 0) -> list[LabelledPair]:
    rows: list[LabelledPair] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip() in ("0", "1"):
            rows.append((parts[0], parts[1], int(parts[2])))
    if limit is not None and len(rows) > limit:
        rows = random.Random(seed).sample(rows, limit)
    return rows


def intent_pairs(path: Path, n: int, seed: int = 0) -> list[LabelledPair]:
    """Half same-intent, half different-intent pairs from a `{"text","intent"}` JSONL file."""
    by_intent: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["intent"] != "oos":
            by_intent.setdefault(row["intent"], []).append(row["text"])
    rng = random.Random(seed)
    intents = sorted(by_intent)
    rows: list[LabelledPair] = []
    while len(rows) < n:
        a = rng.choice(intents)
        if len(rows) % 2 == 0 and len(by_intent[a]) > 1:
            x, y = rng.sample(by_intent[a], 2)
            rows.append((x, y, 1))
        else:
            b = rng.choice([i for i in intents if i != a])
            rows.append((rng.choice(by_intent[a]), rng.choice(by_intent[b]), 0))
    return rows


def feature_matrix(encoder: Encoder, pairs: Sequence[LabelledPair], lang: str) -> tuple[np.ndarray, np.ndarray]:
    texts = sorted({t for a, b, _ in pairs for t in (a, b)})
    vecs = np.asarray(encoder.encode_queries(texts), dtype=np.float32)
    pos = {t: i for i, t in enumerate(texts)}
    x = np.array([features(float(vecs[pos[a]] @ vecs[pos[b]]), a, b, lang) for a, b, _ in pairs])
    y = np.array([label for _, _, label in pairs])
    return x, y


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tp = float(((pred == 1) & (y == 1)).sum())
    fp = float(((pred == 1) & (y == 0)).sum())
    fn = float(((pred == 0) & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "accuracy": round(float((pred == y).mean()), 4)}


def fit(x: np.ndarray, y: np.ndarray, x_dev: np.ndarray, y_dev: np.ndarray, source: str) -> Calibration:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=10.0, max_iter=2000).fit(x, y)
    p = model.predict_proba(x)[:, 1]
    best_t, best_f = 0.5, -1.0
    for t in np.arange(0.3, 0.96, 0.01):
        s = _scores(y, (p >= t).astype(int))
        beta2 = 0.25
        denom = beta2 * s["precision"] + s["recall"]
        f = (1 + beta2) * s["precision"] * s["recall"] / denom if denom else 0.0
        if f > best_f:
            best_t, best_f = float(t), f
    cal = Calibration(coef=[float(c) for c in model.coef_[0]], intercept=float(model.intercept_[0]),
                      threshold=round(best_t, 2), source=source)
    p_dev = np.array([cal.probability(row) for row in x_dev])
    cos_only = LogisticRegression(max_iter=2000).fit(x[:, :1], y)
    p_cos = cos_only.predict_proba(x_dev[:, :1])[:, 1]
    metrics = {f"dev_{k}": v for k, v in _scores(y_dev, (p_dev >= cal.threshold).astype(int)).items()}
    metrics |= {f"dev_cosine_only_{k}": v for k, v in _scores(y_dev, (p_cos >= 0.5).astype(int)).items()}
    metrics |= {"fit_pairs": float(len(y)), "dev_pairs": float(len(y_dev))}
    return cal.model_copy(update={"metrics": metrics})


def calibrate_all(encoder: Encoder, data_dir: Path) -> dict[str, Calibration]:
    zh_fit = read_tsv_pairs(data_dir / "lcqmc" / "train.tsv") + read_tsv_pairs(data_dir / "oppo" / "train.tsv", 2000)
    zh_dev = read_tsv_pairs(data_dir / "lcqmc" / "dev.tsv") + read_tsv_pairs(data_dir / "oppo" / "dev.tsv")
    en_fit = intent_pairs(data_dir / "clinc150" / "train.jsonl", 3000)
    en_dev = intent_pairs(data_dir / "clinc150" / "dev.jsonl", 1000, seed=1)
    out: dict[str, Calibration] = {}
    for lang, fit_pairs, dev_pairs, source in (
        ("zh", zh_fit, zh_dev, "lcqmc+oppo train; dev: lcqmc+oppo dev"),
        ("en", en_fit, en_dev, "clinc150 intent pairs train; dev: clinc150 dev"),
    ):
        log.info("calibrating %s on %d pairs", lang, len(fit_pairs))
        x, y = feature_matrix(encoder, fit_pairs, lang)
        xd, yd = feature_matrix(encoder, dev_pairs, lang)
        out[lang] = fit(x, y, xd, yd, source).model_copy(update={"encoder": str(getattr(encoder, "version", ""))})
    return out
