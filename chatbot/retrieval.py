"""The second layer of the cascade: answer with the reply of the most similar known message.

Similarity combines the shared embedder's cosine with character (zh) or word (en) overlap through
a logistic model calibrated on held-out paraphrase pairs (`csbot llm calibrate-retrieval`): e5
cosines sit in a narrow band (0.8-1.0) where a guessed threshold is worthless, and for short Chinese
small talk the shared characters say a lot that the cosine misses. The output is a probability that
the two messages mean the same, so the threshold is a precision choice, not a magic number.

Numpy brute force over a few thousand vectors takes well under a millisecond; a tenant with a
corpus of hundreds of thousands of pairs would want Milvus instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import BaseModel

from chatbot.corpus import Pair

log = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).parent / "data" / "retrieval_calibration.json"
_WORD = re.compile(r"[a-z0-9']+")
_CJK_OR_ALNUM = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]+")


class Encoder(Protocol):
    version: str

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...


def units(text: str, lang: str) -> list[str]:
    """Comparison units: Chinese characters (plus Latin words), or English words."""
    t = text.lower()
    return _CJK_OR_ALNUM.findall(t) if lang == "zh" else _WORD.findall(t)


def features(cosine: float, a: str, b: str, lang: str) -> list[float]:
    """[cosine, jaccard, share of a in b, share of b in a, length ratio] of two messages."""
    ua, ub = units(a, lang), units(b, lang)
    sa, sb = set(ua), set(ub)
    inter = len(sa & sb)
    union = len(sa | sb) or 1
    la, lb = max(len(ua), 1), max(len(ub), 1)
    return [cosine, inter / union, inter / max(len(sa), 1), inter / max(len(sb), 1), min(la, lb) / max(la, lb)]


class Calibration(BaseModel):
    coef: list[float]
    intercept: float
    threshold: float
    metrics: dict[str, float] = {}
    source: str = ""
    #: version of the encoder whose cosines were fitted; another encoder's cosines mean something else
    encoder: str = ""
    #: threshold for answering with the top corpus candidate, chosen on the tune split of the
    #: project's held-out chitchat queries (`csbot llm eval-retrieval --write`); `threshold` is the
    #: pairwise one fitted on LCQMC/OPPO, which is far too strict for short small talk (recall 0.25)
    answer_threshold: float | None = None
    answer_metrics: dict[str, float] = {}

    @property
    def cutoff(self) -> float:
        """The probability the top candidate must reach for retrieval to answer."""
        return self.threshold if self.answer_threshold is None else self.answer_threshold

    def probability(self, feats: Sequence[float]) -> float:
        z = self.intercept + sum(c * f for c, f in zip(self.coef, feats, strict=True))
        return 1.0 / (1.0 + math.exp(-z))


#: for an encoder nobody calibrated: lexical overlap only (a near-verbatim repeat of a known message),
#: because an uncalibrated cosine says nothing (a random encoder gives 0.95 to anything)
FALLBACK = Calibration(coef=[0.0, 8.0, 2.0, 2.0, 1.0], intercept=-10.0, threshold=0.7, source="lexical fallback")


def load_calibrations(path: Path = CALIBRATION_FILE) -> dict[str, Calibration]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {lang: Calibration.model_validate(v) for lang, v in data.items()}


def calibration_for(calibrations: dict[str, Calibration], lang: str, encoder_version: str) -> Calibration:
    """The fitted calibration of `lang` if it was fitted on this encoder, else the lexical fallback."""
    cal = calibrations.get(lang)
    if cal is None or (cal.encoder and cal.encoder != encoder_version):
        return FALLBACK
    return cal


@dataclass(frozen=True)
class Candidate:
    message: str
    replies: tuple[str, ...]
    lang: str
    cosine: float
    probability: float
    origin: str

    def as_json(self) -> dict[str, str | float]:
        return {"message": self.message, "cosine": round(self.cosine, 4), "p": round(self.probability, 4), "origin": self.origin}


class PairIndex:
    """Unique messages with their replies and unit vectors, searched by cosine then re-scored."""

    def __init__(self, messages: list[str], replies: list[tuple[str, ...]], langs: list[str], origins: list[str],
                 vectors: np.ndarray) -> None:
        self.messages = messages
        self.replies = replies
        self.langs = langs
        self.origins = origins
        self.vectors = vectors

    @classmethod
    def build(cls, pairs: Sequence[Pair], encoder: Encoder, cache_dir: Path | None = None) -> PairIndex:
        grouped: dict[str, list[Pair]] = {}
        for p in pairs:
            grouped.setdefault(p.message, []).append(p)
        messages = list(grouped)
        replies = [tuple(dict.fromkeys(p.reply for p in grouped[m])) for m in messages]
        langs = [grouped[m][0].lang for m in messages]
        origins = [grouped[m][0].origin for m in messages]
        vectors = _encode_cached(messages, encoder, cache_dir)
        return cls(messages, replies, langs, origins, vectors)

    def __len__(self) -> int:
        return len(self.messages)

    def search(self, qvec: np.ndarray, query: str, lang: str, calibrations: dict[str, Calibration],
               k: int = 10) -> list[Candidate]:
        if not self.messages:
            return []
        cos = self.vectors @ qvec.astype(np.float32).reshape(-1)
        top = np.argsort(-cos)[: min(k, len(cos))]
        cal = calibrations.get(lang) or FALLBACK  # callers pass calibration_for(...) results
        out = []
        for i in top:
            i = int(i)
            p = cal.probability(features(float(cos[i]), query, self.messages[i], lang))
            if self.langs[i] != lang:
                p *= 0.5  # a reply in the other language is a poor answer
            out.append(Candidate(self.messages[i], self.replies[i], self.langs[i], float(cos[i]), p, self.origins[i]))
        out.sort(key=lambda c: -c.probability)
        return out


def _encode_cached(texts: list[str], encoder: Encoder, cache_dir: Path | None) -> np.ndarray:
    """Encode `texts`, reusing vectors saved for the same encoder version and texts."""
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    path = None
    if cache_dir is not None:
        h = hashlib.sha256((getattr(encoder, "version", "") + "\x00" + "\x01".join(texts)).encode()).hexdigest()[:20]
        path = cache_dir / f"chat-pairs-{h}.npy"
        if path.exists():
            try:
                return np.load(path)
            except (OSError, ValueError):
                log.warning("unreadable vector cache %s: re-encoding", path)
    vectors = np.asarray(encoder.encode_queries(texts), dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
    return vectors
