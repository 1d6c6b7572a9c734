"""DPO of the chat LoRA adapter on preference pairs (operator's reply chosen, bot's rejected), trl DPOTrainer.

Starts from an SFT adapter (the `from_version` param, else the tenant's serving chat-lora, else its
newest candidate) so DPO refines what SFT taught; with none, a fresh adapter is trained. The
reference model is the starting adapter itself (trl keeps a frozen copy named "ref").
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ops_console.jobs.callbacks import JobProgressCallback
from ops_console.jobs.chat_model import evaluate_adapter, load_base, split
from ops_console.jobs.data import job_records
from ops_console.jobs.runner import JobContext, JobResult
from ops_console.jobs.sft import ROLE, lora_config


def start_adapter(job: JobContext) -> tuple[str, str] | None:
    """(version id, path) of the adapter DPO starts from, or None for a fresh one."""
    reg = job.registry
    wanted = job.params.get("from_version")
    if wanted:
        info = reg.get(str(wanted))
        if info.tenant_id != job.tenant_id or info.role != ROLE:
            raise ValueError(f"version {wanted} is not a {ROLE} of tenant {job.tenant_id}")
        return info.id, info.path
    serving = reg.serving(job.tenant_id, ROLE)
    if serving is not None:
        return serving.id, serving.path
    candidates = [v for v in reg.list(job.tenant_id, ROLE) if v.status == "candidate"]
    return (candidates[0].id, candidates[0].path) if candidates else None


def run(job: JobContext) -> JobResult:
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    recs, fp = job_records(job, "dpo")
    if not recs:
        raise ValueError("no preference pairs: annotate bad replies (the bot's reply is the rejected one)")
    t = job.training
    train, held, heldout = split(recs, t.min_examples_for_holdout, t.holdout_fraction)
    tok, model, base_name = load_base(job.settings, job.params, job.device)
    start = start_adapter(job)
    extra: dict[str, Any] = {}
    if start is not None:
        model = PeftModel.from_pretrained(model, start[1], is_trainable=True)
        extra["peft_config"] = None
        job.log(f"starting from adapter {start[0]}")
    else:
        extra["peft_config"] = lora_config(job)
        job.log("no SFT adapter yet: training a fresh one")
    job.log(f"base model {base_name}; {len(train)} training / {len(held)} evaluation pairs")
    job.progress(0.05)
    job.check_cancel()
    steps = int(job.params.get("max_steps", t.dpo_max_steps))
    lr = float(job.params.get("learning_rate", t.dpo_learning_rate))
    job.settings.models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=job.settings.models_dir, prefix=f"job-{job.job_id}-") as tmp:
        args = DPOConfig(output_dir=str(Path(tmp) / "trainer"), max_steps=steps, learning_rate=lr,
                         per_device_train_batch_size=min(job.batch_size, len(train)), lr_scheduler_type="constant",
                         beta=float(job.params.get("beta", t.dpo_beta)), logging_steps=max(1, steps // 40),
                         save_strategy="no", report_to=[], use_cpu=job.device == "cpu", max_length=t.max_length,
                         seed=int(job.params.get("seed", 0)), disable_tqdm=True)
        trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=Dataset.from_list(train),
                             processing_class=tok, callbacks=[JobProgressCallback(job, 0.05, 0.85)], **extra)
        trainer.train()
        job.check_cancel()
        peft_model = trainer.model
        peft_model.set_adapter("default")
        job.log("evaluating the adapter")
        examples = [(r["prompt"], r["chosen"][-1]["content"]) for r in held]
        pairs = [(r["prompt"], r["chosen"][-1]["content"], r["rejected"][-1]["content"]) for r in held]
        metrics = evaluate_adapter(peft_model, tok, examples, heldout=heldout, pairs=pairs)
        job.log(f"report: win_rate {metrics['win_rate']}, pref_accuracy {metrics.get('pref_accuracy')}, "
                f"regression_ok {metrics['regression_ok']}")
        job.progress(0.95)
        job.check_cancel()
        out = Path(tmp) / "adapter"
        peft_model.save_pretrained(str(out), selected_adapters=["default"])
        tok.save_pretrained(str(out))
        info = job.registry.register(
            job.tenant_id, ROLE, out, fingerprint=fp, metrics=metrics, move=True,
            params={"job_id": job.job_id, "kind": "dpo", "base_model": base_name, "from_version": start[0] if start else None,
                    "max_steps": steps, "learning_rate": lr, "n_train": len(train)},
            note=f"DPO job {job.job_id}")
    job.log(f"registered {ROLE} {info.version} as a candidate")
    return JobResult(version_id=info.id, metrics=metrics, detail={"version": info.version})
