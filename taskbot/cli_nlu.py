"""`csbot nlu train|eval`: train the intent model (and register it), or measure it on a test file.

Progress goes to stderr; with `--json` stdout carries exactly one JSON object.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from taskbot.nlu.data import read_jsonl
from taskbot.nlu.embedding_classifier import EmbeddingClassifierConfig, EmbeddingIntentClassifier, TextEncoder
from taskbot.nlu.evaluate import evaluate
from taskbot.nlu.rules import RuleIntentClassifier
from taskbot.nlu.types import IntentClassifier, IntentExample

log = logging.getLogger(__name__)

nlu_app = typer.Typer(help="Intent classification: train, register and evaluate the NLU model.", no_args_is_help=True)
err = Console(stderr=True)

ENCODER_DIR = "e5-small"
OOS_SEED = Path(__file__).with_name("nlu") / "oos_seed.jsonl"


class _ProgressEncoder:
    """Wraps the encoder to encode in chunks and show a progress bar on stderr for long inputs."""

    def __init__(self, inner: TextEncoder, progress: Progress | None, chunk: int = 512) -> None:
        self.inner = inner
        self.progress = progress
        self.chunk = chunk
        self.version = inner.version

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        if self.progress is None or len(texts) <= self.chunk:
            return self.inner.encode_queries(texts)
        task = self.progress.add_task("embedding", total=len(texts))
        parts = []
        for i in range(0, len(texts), self.chunk):
            parts.append(self.inner.encode_queries(texts[i : i + self.chunk]))
            self.progress.advance(task, len(texts[i : i + self.chunk]))
        self.progress.remove_task(task)
        return np.concatenate(parts)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    )


def _encoder(encoder_dir: Path | None) -> TextEncoder:
    from csbot.config import get_settings
    from csbot.models.embedder import Embedder

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = get_settings()
    path = encoder_dir or settings.models_dir / ENCODER_DIR
    embedder = Embedder(path, device=settings.models.device, torch_threads=settings.models.torch_threads)
    embedder.load()
    return embedder


def _classifier(kind: str, encoder_dir: Path | None, progress: Progress | None, config: EmbeddingClassifierConfig,
                cache: Path | None = None) -> Any:
    if kind == "ngrams":
        return EmbeddingIntentClassifier(None, config.model_copy(update={"use_embeddings": False}))
    encoder: TextEncoder = _ProgressEncoder(_encoder(encoder_dir), progress)
    if cache is not None:
        from taskbot.nlu.embedding_cache import CachedEncoder

        encoder = CachedEncoder(encoder, cache)
    if kind == "embeddings":
        config = config.model_copy(update={"use_char_ngrams": False})
    return EmbeddingIntentClassifier(encoder, config)


def domain_examples(directory: Path) -> tuple[list[IntentExample], dict[str, list[str]]]:
    """Examples and rule patterns of every intent in a directory of task-domain YAML files."""
    from taskbot.domain import load_domain_dir

    dset = load_domain_dir(directory)
    examples: list[IntentExample] = []
    patterns: dict[str, list[str]] = {}
    for dom in dset.domains.values():
        for intent, idef in dom.intents.items():
            for lang, texts in idef.examples.items():
                examples.extend(IntentExample(text=t, intent=intent, lang=lang) for t in texts)
            if idef.patterns:
                patterns[intent] = list(idef.patterns)
    return examples, patterns


def _fingerprint(examples: list[IntentExample], config: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for ex in sorted(examples, key=lambda e: (e.intent, e.text)):
        h.update(f"{ex.intent}\t{ex.text}\n".encode())
    return h.hexdigest()[:16]


Features = Annotated[str, typer.Option(help="both | embeddings | ngrams (char n-gram TF-IDF only, no encoder)")]
EncoderDir = Annotated[Path | None, typer.Option("--encoder", help="encoder directory (default: <models_dir>/e5-small)")]


@nlu_app.command("train")
def train(
    data: Annotated[list[Path] | None, typer.Option("--data", help="JSONL {text, intent}; repeatable (e.g. annotated turns)")] = None,
    domains: Annotated[Path | None, typer.Option(help="directory of task-domain YAML files whose examples to use")] = None,
    tenant: Annotated[str, typer.Option(help="owner tenant in the registry ('_global' = every tenant)")] = "_global",
    rules_only: Annotated[bool, typer.Option("--rules", help="store the domains' regex rules instead of training")] = False,
    oos_seed: Annotated[bool, typer.Option(help="add the packaged out-of-scope examples (zh/en small talk)")] = True,
    out: Annotated[Path | None, typer.Option(help="write the artefact here instead of registering it")] = None,
    promote: Annotated[bool, typer.Option(help="promote the new version to serving right away")] = False,
    features: Features = "both",
    encoder_dir: EncoderDir = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as one JSON object")] = False,
) -> None:
    """Train an intent model on JSONL files and/or a tenant's task domains, then register it (role "nlu")."""
    from csbot.config import get_settings

    settings = get_settings()
    examples: list[IntentExample] = []
    patterns: dict[str, list[str]] = {}
    for path in data or []:
        examples.extend(read_jsonl(path))
    if domains is None and not data and tenant != "_global":
        from taskbot.bot import resolve_domain_dir

        domains = resolve_domain_dir(tenant, None, settings.data_dir)
    if domains is not None:
        dom_examples, patterns = domain_examples(domains)
        examples.extend(dom_examples)
    if not examples and not patterns:
        raise typer.BadParameter("no training data: give --data FILE and/or --domains DIR (or a tenant with domains)")
    config = EmbeddingClassifierConfig()
    with _progress() as progress:
        clf: IntentClassifier
        if rules_only:
            clf = RuleIntentClassifier(patterns)
        else:
            if oos_seed and domains is not None:
                examples.extend(read_jsonl(OOS_SEED))
            clf = _classifier(features, encoder_dir, progress, config)
        err.print(f"training {type(clf).__name__} on {len(examples)} examples")
        report = clf.fit(examples)
    result: dict[str, Any] = {"classifier": report.classifier, "n_examples": report.n_examples,
                              "intents": report.intents, "train_s": report.train_s,
                              "oos_threshold": report.oos_threshold, "dev_metrics": report.dev_metrics}
    if out is not None:
        clf.save(out)
        result["path"] = str(out)
    else:
        result.update(_register(settings, clf, tenant, examples, report.dev_metrics, report.model_dump(mode="json"), promote))
    if json_out:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        err.print(f"[green]done[/green]: {result}")


def _register(settings: Any, clf: IntentClassifier, tenant: str, examples: list[IntentExample],
              dev_metrics: dict[str, float], params: dict[str, Any], promote: bool) -> dict[str, Any]:
    from csbot.models.registry import ModelRegistry
    from csbot.storage.db import Database
    from csbot.storage.migrate import upgrade

    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        registry = ModelRegistry(settings, db)
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.models_dir) as tmp:
            build = Path(tmp) / "nlu"
            clf.save(build)
            metrics = dict(dev_metrics)
            if "macro_f1" in metrics:
                metrics["intent_f1"] = metrics["macro_f1"]
            info = registry.register(tenant, "nlu", build, fingerprint=_fingerprint(examples, params.get("details", {})),
                                     metrics=metrics, params=params, move=True)
        if promote:
            info = registry.promote(info.id, actor="cli", force=True)
        return {"version_id": info.id, "version": info.version, "status": info.status, "path": info.path}
    finally:
        db.dispose()


@nlu_app.command("eval")
def eval_cmd(
    train_file: Annotated[Path, typer.Option("--train", help="JSONL {text, intent} to train on")],
    test_file: Annotated[Path, typer.Option("--test", help="JSONL {text, intent} to evaluate on ('oos' = out of scope)")],
    features: Features = "both",
    encoder_dir: EncoderDir = None,
    latency_samples: Annotated[int, typer.Option(help="single-query predictions timed for p50_ms")] = 200,
    embedding_cache: Annotated[Path | None, typer.Option(help="keep sentence vectors here between runs (train_s then excludes embedding)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as one JSON object on stdout")] = False,
) -> None:
    """Train on --train, evaluate on --test: accuracy, in-scope accuracy, OOS recall/precision, macro F1."""
    train_rows, test_rows = read_jsonl(train_file), read_jsonl(test_file)
    with _progress() as progress:
        clf = _classifier(features, encoder_dir, progress, EmbeddingClassifierConfig(), embedding_cache)
        err.print(f"training on {len(train_rows)} examples ({features})")
        task = progress.add_task("predicting", total=len(test_rows))
        report = evaluate(clf, train_rows, test_rows, latency_samples=latency_samples,
                          progress=lambda done, total: progress.update(task, completed=done))
    payload = report.model_dump()
    if json_out:
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        for key, value in payload.items():
            err.print(f"{key:>18}: {value}")
