"""Retrain the tenant's intent classifier on its task domains' examples plus the operators' intent fixes.

The report (role "nlu", primary `intent_f1`) holds the classifier's own calibration-split figures, the
accuracy on the intent fixes (held out when there are enough of them, else on the training fixes and
flagged `heldout: false`), and on the fixed regression set: the domains' own examples.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from ops_console.jobs.chat_model import split
from ops_console.jobs.data import job_records
from ops_console.jobs.runner import JobContext, JobResult

ROLE = "nlu"
#: each fix counts this many times: one corrected wording must outweigh the domain examples it resembles
FIX_WEIGHT = 3


def _domains(job: JobContext) -> Any:
    from csbot.storage.models import Tenant
    from taskbot.bot import resolve_domain_dir

    with job.db.session() as s:
        row = s.get(Tenant, job.tenant_id)
        setting = (row.settings or {}).get("task_domains") if row is not None else None
    return resolve_domain_dir(job.tenant_id, job.params.get("domains") or setting, job.settings.data_dir)


def _accuracy(clf: Any, examples: list[Any]) -> float:
    if not examples:
        return 0.0
    preds = clf.predict([e.text for e in examples])
    return round(sum(1 for p, e in zip(preds, examples, strict=True) if (p.intent or "oos") == e.intent) / len(examples), 4)


def run(job: JobContext) -> JobResult:
    from taskbot.cli_nlu import OOS_SEED, domain_examples
    from taskbot.nlu.data import read_jsonl
    from taskbot.nlu.embedding_classifier import EmbeddingClassifierConfig, EmbeddingIntentClassifier
    from taskbot.nlu.types import IntentExample

    recs, _ = job_records(job, "nlu")
    fixes = [IntentExample(text=r["text"], intent=r["intent"], lang=r.get("lang")) for r in recs]
    directory = _domains(job)
    regression: list[IntentExample] = []
    if directory is not None:
        regression, _patterns = domain_examples(Path(directory))
        job.log(f"{len(regression)} examples from the task domains in {directory}")
    if not fixes and not regression:
        raise ValueError("no NLU training data: no task domains and no intent fixes")
    t = job.training
    train_fixes, eval_fixes, heldout = split(fixes, t.min_examples_for_holdout, t.holdout_fraction)
    examples = regression + train_fixes * FIX_WEIGHT
    if directory is not None:
        examples += read_jsonl(OOS_SEED)
    job.log(f"{len(fixes)} intent fixes ({len(eval_fixes)} for evaluation, held out: {heldout}); "
            f"{len(examples)} training examples")
    job.progress(0.1)
    job.check_cancel()
    features = str(job.params.get("features", "both"))
    encoder = None
    if features != "ngrams":
        from csbot.models.hub import ModelHub

        encoder = ModelHub(job.settings, job.db).embedder(job.tenant_id)
    config = EmbeddingClassifierConfig(use_embeddings=encoder is not None)
    clf = EmbeddingIntentClassifier(encoder, config)
    report = clf.fit(examples)
    job.progress(0.7)
    job.check_cancel()
    metrics: dict[str, Any] = dict(report.dev_metrics)
    if "macro_f1" in metrics:
        metrics["intent_f1"] = metrics["macro_f1"]
    metrics.update(fix_accuracy=_accuracy(clf, eval_fixes), regression_accuracy=_accuracy(clf, regression),
                   n_fixes=len(fixes), heldout=heldout, features=features)
    if "intent_f1" not in metrics:
        metrics["intent_f1"] = metrics["fix_accuracy"]
    job.log(f"report: intent_f1 {metrics.get('intent_f1')}, fixes {metrics['fix_accuracy']}, "
            f"regression {metrics['regression_accuracy']}")
    fp = hashlib.sha256(json.dumps(sorted((e.intent, e.text) for e in examples), ensure_ascii=False).encode()).hexdigest()[:16]
    job.settings.models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=job.settings.models_dir, prefix=f"job-{job.job_id}-") as tmp:
        out = Path(tmp) / "nlu"
        clf.save(out)
        info = job.registry.register(job.tenant_id, ROLE, out, fingerprint=fp, metrics=metrics, move=True,
                                     params={"job_id": job.job_id, "kind": "nlu", **report.model_dump(mode="json")},
                                     note=f"NLU job {job.job_id}")
    job.log(f"registered {ROLE} {info.version} as a candidate")
    return JobResult(version_id=info.id, metrics=metrics, detail={"version": info.version})
