"""Fine-tunes the sentence encoder on a tenant's QQ pairs (sentence-transformers training).

Each similar question is an anchor, its standard question the positive, and the lexically
closest standard question of another item a mined hard negative; MultipleNegativesRankingLoss
adds every other positive in the batch as an in-batch negative. Both sides get the `query: `
prefix, as in serving (questions are matched against questions). After promotion, publishing
the tenant's KB re-encodes every question (the embedder version changed).
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbbot.bm25_retriever import BM25Retriever
from kbbot.matcher import DOC_PREFIX
from kbbot.schema import FaqItem
from kbbot.text import TextProcessor

log = logging.getLogger(__name__)


@dataclass
class EmbedderTrainConfig:
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 2e-5
    max_pairs: int | None = None
    max_length: int = 64
    seed: int = 13


def triplets(items: list[FaqItem], seed: int = 13) -> list[tuple[str, str, str]]:
    processor = TextProcessor()
    standards = [it.question for it in items]
    bm25 = BM25Retriever()
    bm25.index([processor.tokens(q) for q in standards])
    rng = random.Random(seed)
    out = []
    for i, it in enumerate(items):
        for s in it.similar:
            neg = next((standards[j] for j, _ in bm25.search(processor.tokens(s), 3) if j != i), None)
            if neg is None and len(standards) > 1:
                neg = standards[rng.choice([j for j in range(len(standards)) if j != i])]
            if neg is not None:
                out.append((DOC_PREFIX + s, DOC_PREFIX + it.question, DOC_PREFIX + neg))
    rng.shuffle(out)
    return out


def finetune(base_dir: Path, items: list[FaqItem], cfg: EmbedderTrainConfig, *, out: Path | None = None,
             progress: Callable[[int, int], None] | None = None, registry: tuple[Any, Any, Any] | None = None,
             tenant_id: str = "") -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers, SentenceTransformerTrainingArguments
    from transformers import TrainerCallback

    data = triplets(items, cfg.seed)[: cfg.max_pairs]
    if len(data) < 2:
        raise ValueError("the tenant needs similar questions on at least two items to fine-tune on")
    model = SentenceTransformer(str(base_dir), device="cpu")
    model.max_seq_length = cfg.max_length
    for name, param in model.named_parameters():
        if "word_embeddings" in name:  # 250k rows: frozen keeps the vocabulary intact and the step fast
            param.requires_grad = False
    ds = Dataset.from_dict({"anchor": [a for a, _, _ in data], "positive": [p for _, p, _ in data],
                            "negative": [n for _, _, n in data]})

    class _Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if progress:
                progress(state.global_step, state.max_steps)

    tmp = Path(tempfile.mkdtemp(prefix="kb-embedder-"))
    with tempfile.TemporaryDirectory(prefix="kb-embedder-run-") as run_dir:
        args = SentenceTransformerTrainingArguments(
            output_dir=run_dir, num_train_epochs=cfg.epochs, per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.lr, warmup_ratio=0.1, save_strategy="no", report_to=[], seed=cfg.seed,
            use_cpu=True, batch_sampler=BatchSamplers.NO_DUPLICATES, disable_tqdm=progress is not None)
        SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                   loss=MultipleNegativesRankingLoss(model),
                                   callbacks=[_Progress()] if progress else None).train()
    model.save_pretrained(str(tmp))
    # keep the converted model's tokenizer files and manifest-free layout loadable by FlagModel
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (base_dir / name).exists() and not (tmp / name).exists():
            shutil.copy(base_dir / name, tmp / name)
    result: dict[str, Any] = {"triplets": len(data)}
    if out is not None:
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(tmp), out)
        result["path"] = str(out)
    elif registry is not None:
        from csbot.models.registry import ModelRegistry

        settings, db, redis = registry
        info = ModelRegistry(settings, db, redis).register(tenant_id, "embedder", tmp, move=True,
                                                           metrics={"triplets": len(data)},
                                                           params={k: str(v) for k, v in cfg.__dict__.items()})
        result.update(version_id=info.id, version=info.version)
    return result
