"""The trained intent classifier: frozen sentence embeddings + character n-grams -> logistic regression.

Why this shape: the shared encoder (multilingual-e5-small) is already loaded in every serving
process, so its vectors cost nothing extra; character n-grams add the surface cues (keywords,
product words, Chinese without segmentation) that a small frozen encoder blurs. A linear model on
both trains in about a minute on two CPU cores and gives probabilities for the out-of-scope
threshold, which is chosen on a calibration split carved from the training data.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
from pydantic import BaseModel

from taskbot.nlu.data import stratified_split
from taskbot.nlu.evaluate import intent_metrics
from taskbot.nlu.oos import choose_threshold
from taskbot.nlu.types import OOS_LABEL, IntentExample, IntentPrediction, TrainReport

log = logging.getLogger(__name__)

META_FILE = "intent_model.json"
MODEL_FILE = "intent_model.joblib"
KIND = "embedding+char-ngram-logreg"


class TextEncoder(Protocol):
    """What the classifier needs of an encoder (`csbot.models.embedder.Embedder` is one)."""

    version: str

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...


class EmbeddingClassifierConfig(BaseModel):
    """Features and training knobs; defaults were chosen on CLINC150/BANKING77 dev (docs/taskbot_nlu.md)."""

    use_embeddings: bool = True
    use_char_ngrams: bool = True
    #: multiplier of the (unit-length) sentence vector against the (unit-length) n-gram vector
    embedding_weight: float = 3.0
    ngram_min: int = 1
    ngram_max: int = 4
    ngram_min_df: int = 2
    #: inverse regularisation strength of the logistic regression
    C: float = 50.0
    max_iter: int = 300
    #: share of each intent held out to choose the out-of-scope threshold
    calibration_fraction: float = 0.1
    #: weight of out-of-scope recall against in-scope accuracy when choosing the threshold
    oos_weight: float = 0.2
    #: without oos examples: share of in-scope calibration examples the threshold may reject
    reject_rate_without_oos: float = 0.02
    #: retrain on all examples after the threshold was chosen
    refit_on_all: bool = True
    seed: int = 0


class EmbeddingIntentClassifier:
    """Intent classifier with out-of-scope detection (an `oos` class if trained on one, plus a threshold).

    `predict` returns `intent=None` when the `oos` class wins or the best in-scope probability is
    below the threshold; `confidence` is always the best in-scope probability.
    """

    name = KIND

    def __init__(self, encoder: TextEncoder | None = None, config: EmbeddingClassifierConfig | None = None) -> None:
        self.encoder = encoder
        self.config = config or EmbeddingClassifierConfig()
        self.threshold: float = 0.0
        self.intents: list[str] = []
        self.encoder_version: str | None = None
        self.report: TrainReport | None = None
        self._vectorizer: Any = None
        self._model: Any = None

    # -- features ---------------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.encoder is None:
            raise RuntimeError("this intent model uses sentence embeddings: pass encoder=")
        return np.asarray(self.encoder.encode_queries(texts), dtype=np.float32)

    def _features(self, texts: list[str], vectors: np.ndarray | None = None) -> Any:
        from scipy import sparse

        blocks: list[Any] = []
        if self.config.use_embeddings:
            vec = self._embed(texts) if vectors is None else vectors
            blocks.append(sparse.csr_matrix(vec * self.config.embedding_weight))
        if self.config.use_char_ngrams:
            blocks.append(self._vectorizer.transform(texts))
        return sparse.hstack(blocks, format="csr") if len(blocks) > 1 else sparse.csr_matrix(blocks[0])

    def _new_vectorizer(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(self.config.ngram_min, self.config.ngram_max),
            min_df=self.config.ngram_min_df,
            sublinear_tf=True,
            lowercase=True,
        )

    def _train(self, texts: list[str], labels: list[str], vectors: np.ndarray | None) -> None:
        from sklearn.linear_model import LogisticRegression

        if self.config.use_char_ngrams:
            self._vectorizer = self._new_vectorizer()
            try:
                self._vectorizer.fit(texts)
            except ValueError:  # too few examples for min_df: keep every n-gram
                self._vectorizer.set_params(min_df=1)
                self._vectorizer.fit(texts)
        model = LogisticRegression(C=self.config.C, max_iter=self.config.max_iter)
        model.fit(self._features(texts, vectors), labels)
        self._model = model

    def _probabilities(self, texts: list[str], vectors: np.ndarray | None = None) -> np.ndarray:
        return np.asarray(self._model.predict_proba(self._features(texts, vectors)))

    # -- the contract -----------------------------------------------------------------------
    def fit(self, examples: list[IntentExample]) -> TrainReport:
        """Train on the examples (`oos` ones become a class), choosing the threshold on a held-out share."""
        if len({e.intent for e in examples if e.intent != OOS_LABEL}) < 2:
            raise ValueError("need examples of at least two in-scope intents to train an intent model")
        start = time.perf_counter()
        texts = [e.text for e in examples]
        vectors = self._embed(texts) if self.config.use_embeddings else None
        if vectors is not None:
            self.encoder_version = getattr(self.encoder, "version", None)
        embed_s = time.perf_counter() - start
        index = {id(e): i for i, e in enumerate(examples)}
        fit_part, calib = stratified_split(examples, self.config.calibration_fraction, seed=self.config.seed)
        dev_metrics: dict[str, float] = {}
        if calib:
            fit_idx = [index[id(e)] for e in fit_part]
            cal_idx = [index[id(e)] for e in calib]
            self._train([texts[i] for i in fit_idx], [examples[i].intent for i in fit_idx],
                        None if vectors is None else vectors[fit_idx])
            self.intents = [c for c in self._model.classes_ if c != OOS_LABEL]
            probs = self._probabilities([texts[i] for i in cal_idx], None if vectors is None else vectors[cal_idx])
            gold = np.array([examples[i].intent for i in cal_idx])
            top_prob, top_label = self._top(probs)
            self.threshold = choose_threshold(
                top_prob, top_label, gold,
                oos_weight=self.config.oos_weight,
                reject_rate_without_oos=self.config.reject_rate_without_oos,
            )
            dev_metrics = _calibration_metrics(top_prob, top_label, gold, self.threshold)
            log.info("intent model: threshold %.4f on %d calibration examples: %s", self.threshold, len(calib), dev_metrics)
        if self.config.refit_on_all or not calib:
            self._train(texts, [e.intent for e in examples], vectors)
        self.intents = [c for c in self._model.classes_ if c != OOS_LABEL]
        self.report = TrainReport(
            classifier=self.name,
            n_examples=len(examples),
            intents=self.intents,
            train_s=round(time.perf_counter() - start, 3),
            oos_threshold=self.threshold,
            dev_metrics=dev_metrics,
            details={
                "embed_s": round(embed_s, 3),
                "n_calibration": len(calib),
                "encoder_version": self.encoder_version,
                "config": self.config.model_dump(),
            },
        )
        return self.report

    def _top(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best in-scope probability, and the label that wins overall (possibly `oos`)."""
        classes = np.asarray(self._model.classes_)
        in_scope = classes != OOS_LABEL
        top_prob = probs[:, in_scope].max(axis=1)
        top_label = classes[probs.argmax(axis=1)]
        return top_prob, top_label

    def predict(self, texts: list[str]) -> list[IntentPrediction]:
        if self._model is None:
            raise RuntimeError("intent model is not trained or loaded")
        if not texts:
            return []
        probs = self._probabilities(texts)
        classes = np.asarray(self._model.classes_)
        in_scope = np.flatnonzero(classes != OOS_LABEL)
        out: list[IntentPrediction] = []
        for row in probs:
            order = in_scope[np.argsort(-row[in_scope])][:5]
            best = int(order[0])
            top_prob = float(row[best])
            is_oos = top_prob < self.threshold or classes[int(row.argmax())] == OOS_LABEL
            out.append(
                IntentPrediction(
                    intent=None if is_oos else str(classes[best]),
                    confidence=round(top_prob, 4),
                    ranking=[(str(classes[i]), round(float(row[i]), 4)) for i in order],
                )
            )
        return out

    def save(self, path: Path) -> None:
        import joblib

        if self._model is None:
            raise RuntimeError("nothing to save: the intent model is not trained")
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump({"model": self._model, "vectorizer": self._vectorizer}, path / MODEL_FILE)
        meta = {
            "kind": KIND,
            "config": self.config.model_dump(),
            "threshold": self.threshold,
            "intents": self.intents,
            "encoder_version": self.encoder_version,
            "report": self.report.model_dump() if self.report else None,
        }
        (path / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, **deps: Any) -> Self:
        """Load an artefact; pass `encoder=` (the shared embedder) when it was trained with embeddings."""
        import joblib

        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        if meta.get("kind") != KIND:
            raise ValueError(f"{path}: not a {KIND} artefact (kind={meta.get('kind')!r})")
        config = EmbeddingClassifierConfig.model_validate(meta["config"])
        encoder = deps.get("encoder")
        if config.use_embeddings and encoder is None:
            raise ValueError(f"{path}: this intent model needs the sentence encoder: load(path, encoder=...)")
        expected = meta.get("encoder_version")
        if encoder is not None and expected and getattr(encoder, "version", None) not in (None, "", expected):
            # vectors of another encoder are meaningless to the trained weights
            raise ValueError(f"{path}: trained with encoder {expected}, got {encoder.version}; retrain the intent model")
        obj = cls(encoder=encoder, config=config)
        parts = joblib.load(path / MODEL_FILE)
        obj._model, obj._vectorizer = parts["model"], parts["vectorizer"]
        obj.threshold = float(meta["threshold"])
        obj.intents = list(meta["intents"])
        obj.encoder_version = expected
        obj.report = TrainReport.model_validate(meta["report"]) if meta.get("report") else None
        return obj


def _calibration_metrics(top_prob: np.ndarray, top_label: np.ndarray, gold: np.ndarray, threshold: float) -> dict[str, float]:
    pred = np.where((top_prob < threshold) | (top_label == OOS_LABEL), OOS_LABEL, top_label)
    m = intent_metrics([str(g) for g in gold], [str(p) for p in pred])
    out = {"accuracy": m.accuracy, "in_scope_accuracy": m.in_scope_accuracy, "macro_f1": m.macro_f1}
    if (gold == OOS_LABEL).any():
        out.update(oos_recall=m.oos_recall, oos_precision=m.oos_precision)
    return out
