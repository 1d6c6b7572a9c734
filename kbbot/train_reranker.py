"""Fine-tunes the cross-encoder reranker from the shipped encoder on question pairs.

Training data: the shared LCQMC/BQ/OPPO pairs (labels as given), plus for each positive pair a
mined near miss (the lexically closest other first-question) as a negative, plus the tenant's
own similar questions (positives against their standard question, negatives against the nearest
other item). The word-embedding matrix (250k rows, most of the parameters) is frozen: it keeps
the multilingual vocabulary intact and makes a CPU epoch several times faster.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kbbot.bm25_retriever import BM25Retriever
from kbbot.devsets import read_pairs
from kbbot.faq_io import question_key
from kbbot.schema import FaqItem
from kbbot.text import TextProcessor

log = logging.getLogger(__name__)

Pair = tuple[str, str, int]


@dataclass
class RerankerTrainConfig:
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 4e-5
    max_length: int = 64
    max_pairs: int | None = None
    mined_negatives: int = 1
    #: how near misses are found: "bm25" (lexically closest) or "dense" (closest by the encoder, i.e.
    #: the candidates the reranker actually sees at serving time, behind the dense recall)
    mining: str = "bm25"
    seed: int = 13
    freeze_embeddings: bool = True
    #: train only the top N encoder layers (0 = all): faster on CPU
    train_layers: int = 0
    #: keep only the bottom N layers of the encoder (0 = all 12): a 6-layer cross-encoder reranks
    #: five candidates in tens of milliseconds on 2 CPU cores, a 12-layer one does not
    num_layers: int = 6
    warmup_ratio: float = 0.1
    pair_files: list[Path] = field(default_factory=list)
    #: at most this many pairs from the pair file of that folder name (e.g. {"bq": 2000}), drawn
    #: with the seed before mining: keeps a CPU run short while the closest domain stays whole
    pair_caps: dict[str, int] = field(default_factory=dict)


def mine_near_misses(pairs: list[Pair], processor: TextProcessor, per_positive: int, seed: int) -> list[Pair]:
    """For each positive (q1, q2): (q2, q) with q the closest other first-question, label 0."""
    rng = random.Random(seed)
    firsts = sorted({a for a, _, _ in pairs})
    positive = {(question_key(a), question_key(b)) for a, b, lab in pairs if lab == 1}
    positive |= {(b, a) for a, b in positive}
    bm25 = BM25Retriever()
    bm25.index([processor.tokens(q) for q in firsts])
    out: list[Pair] = []
    for a, b, lab in pairs:
        if lab != 1:
            continue
        hits = bm25.search(processor.tokens(b), per_positive + 3)
        picked = 0
        for idx, _ in hits:
            cand = firsts[idx]
            if cand == a or (question_key(b), question_key(cand)) in positive:
                continue
            out.append((b, cand, 0))
            picked += 1
            if picked >= per_positive:
                break
        if picked < per_positive and firsts:
            out.append((b, rng.choice(firsts), 0))
    return out


def tenant_pairs(items: list[FaqItem], processor: TextProcessor, seed: int) -> list[Pair]:
    """Each similar question a positive for its standard question, and a negative against the
    closest standard question of another item."""
    if len(items) < 2:
        return []
    standards = [it.question for it in items]
    bm25 = BM25Retriever()
    bm25.index([processor.tokens(q) for q in standards])
    out: list[Pair] = []
    for i, it in enumerate(items):
        for s in it.similar:
            out.append((s, it.question, 1))
            for idx, _ in bm25.search(processor.tokens(s), 3):
                if idx != i:
                    out.append((s, standards[idx], 0))
                    break
    return out


def mine_dense_near_misses(pairs: list[Pair], encode: Callable[[list[str]], np.ndarray],
                           per_positive: int) -> list[Pair]:
    """For each positive (q1, q2): (q2, q) with q among the first-questions closest to q2 by the
    encoder, skipping q1 and every known paraphrase of q2."""
    firsts = sorted({a for a, _, _ in pairs})
    positive = {(question_key(a), question_key(b)) for a, b, lab in pairs if lab == 1}
    positive |= {(b, a) for a, b in positive}
    queries = [(a, b) for a, b, lab in pairs if lab == 1]
    if not firsts or not queries:
        return []
    fv = encode(firsts)
    qv = encode([b for _, b in queries])
    out: list[Pair] = []
    for start in range(0, len(queries), 512):
        sims = qv[start:start + 512] @ fv.T
        top = np.argsort(-sims, axis=1)[:, : per_positive + 8]
        for (a, b), row in zip(queries[start:start + 512], top, strict=True):
            picked = 0
            for idx in row:
                cand = firsts[int(idx)]
                if cand == a or cand == b or (question_key(b), question_key(cand)) in positive:
                    continue
                out.append((b, cand, 0))
                picked += 1
                if picked >= per_positive:
                    break
    return out


def training_pairs(cfg: RerankerTrainConfig, items: list[FaqItem] | None = None,
                   encode: Callable[[list[str]], np.ndarray] | None = None) -> list[Pair]:
    processor = TextProcessor()
    pairs: list[Pair] = []
    rng = random.Random(cfg.seed)
    for path in cfg.pair_files:
        file_pairs = read_pairs(path)
        cap = cfg.pair_caps.get(path.parent.name)
        if cap is not None and cap < len(file_pairs):
            file_pairs = rng.sample(file_pairs, cap)
        pairs += file_pairs
        if cfg.mined_negatives and cfg.mining == "dense":
            if encode is None:
                raise ValueError("dense mining needs an encoder")
            pairs += mine_dense_near_misses(file_pairs, encode, cfg.mined_negatives)
        elif cfg.mined_negatives:
            pairs += mine_near_misses(file_pairs, processor, cfg.mined_negatives, cfg.seed)
    if items:
        pairs += tenant_pairs(items, processor, cfg.seed)
    rng.shuffle(pairs)
    if cfg.max_pairs is not None:
        pairs = pairs[: cfg.max_pairs]
    return pairs


def train(base_dir: Path, out_dir: Path, pairs: list[Pair], cfg: RerankerTrainConfig,
          progress: Callable[[int, int], None] | None = None) -> Path:
    """Train and save a CrossEncoder (1 logit) to `out_dir`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_DISABLED", "true")
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import TrainerCallback

    torch.manual_seed(cfg.seed)
    config_kwargs = {"num_hidden_layers": cfg.num_layers} if cfg.num_layers else {}
    model = CrossEncoder(str(base_dir), num_labels=1, max_length=cfg.max_length, device="cpu",
                         config_kwargs=config_kwargs)
    n_layers = int(model.model.config.num_hidden_layers)
    frozen_below = n_layers - cfg.train_layers if 0 < cfg.train_layers < n_layers else 0
    for name, param in model.model.named_parameters():
        if cfg.freeze_embeddings and "embeddings." in name:
            param.requires_grad = False
        elif frozen_below and ".layer." in name and int(name.split(".layer.")[1].split(".")[0]) < frozen_below:
            param.requires_grad = False
    data = Dataset.from_dict({"sentence1": [a for a, _, _ in pairs], "sentence2": [b for _, b, _ in pairs],
                              "label": [float(lab) for _, _, lab in pairs]})

    class _Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if progress:
                progress(state.global_step, state.max_steps)

    with tempfile.TemporaryDirectory(prefix="kb-rerank-") as tmp:
        args = CrossEncoderTrainingArguments(
            output_dir=tmp, num_train_epochs=cfg.epochs, per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.lr, warmup_ratio=cfg.warmup_ratio, save_strategy="no", logging_steps=50,
            report_to=[], seed=cfg.seed, use_cpu=True, dataloader_num_workers=0, disable_tqdm=progress is not None,
        )
        trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data,
                                      loss=BinaryCrossEntropyLoss(model),
                                      callbacks=[_Progress()] if progress else None)
        trainer.train()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    return out_dir


def score_fn(model_dir: Path) -> Callable[[list[tuple[str, str]]], np.ndarray]:
    from kbbot.reranker import Reranker

    r = Reranker(model_dir)
    r.load()
    return r.score_pairs
