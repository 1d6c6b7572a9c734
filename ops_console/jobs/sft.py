"""SFT of a LoRA adapter for the chat model on operators' better replies (trl SFTTrainer + peft)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ops_console.jobs.callbacks import JobProgressCallback
from ops_console.jobs.chat_model import evaluate_adapter, load_base, split
from ops_console.jobs.data import job_records
from ops_console.jobs.runner import JobContext, JobResult

ROLE = "chat-lora"
LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora_config(job: JobContext) -> Any:
    from peft import LoraConfig

    t = job.training
    return LoraConfig(r=int(job.params.get("lora_rank", t.lora_rank)),
                      lora_alpha=int(job.params.get("lora_alpha", t.lora_alpha)),
                      lora_dropout=0.0, target_modules=LLAMA_TARGETS, task_type="CAUSAL_LM")


def prompt_completion(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """{"messages"} -> conversational prompt/completion, so the loss covers the reply only."""
    return [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in recs]


def run(job: JobContext) -> JobResult:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    recs, fp = job_records(job, "sft")
    if not recs:
        raise ValueError("no SFT examples: annotate bad replies with a better one first")
    t = job.training
    train, held, heldout = split(recs, t.min_examples_for_holdout, t.holdout_fraction)
    tok, model, base_name = load_base(job.settings, job.params, job.device)
    job.log(f"base model {base_name}; {len(train)} training / {len(held)} evaluation examples")
    job.progress(0.05)
    job.check_cancel()
    steps = int(job.params.get("max_steps", t.sft_max_steps))
    lr = float(job.params.get("learning_rate", t.sft_learning_rate))
    job.settings.models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=job.settings.models_dir, prefix=f"job-{job.job_id}-") as tmp:
        args = SFTConfig(output_dir=str(Path(tmp) / "trainer"), max_steps=steps, learning_rate=lr,
                         per_device_train_batch_size=min(job.batch_size, len(train)), lr_scheduler_type="constant",
                         logging_steps=max(1, steps // 40), save_strategy="no", report_to=[],
                         use_cpu=job.device == "cpu", max_length=t.max_length, seed=int(job.params.get("seed", 0)),
                         dataset_num_proc=None, disable_tqdm=True)
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(prompt_completion(train)),
                             processing_class=tok, peft_config=lora_config(job),
                             callbacks=[JobProgressCallback(job, 0.05, 0.85)])
        trainer.train()
        job.check_cancel()
        peft_model = trainer.model
        job.log("evaluating the adapter")
        examples = [(r["messages"][:-1], r["messages"][-1]["content"]) for r in held]
        metrics = evaluate_adapter(peft_model, tok, examples, heldout=heldout)
        job.log(f"report: win_rate {metrics['win_rate']}, similarity {metrics['similarity']} "
                f"(base {metrics['base_similarity']}), regression_ok {metrics['regression_ok']}")
        job.progress(0.95)
        job.check_cancel()
        out = Path(tmp) / "adapter"
        peft_model.save_pretrained(str(out))
        tok.save_pretrained(str(out))
        info = job.registry.register(
            job.tenant_id, ROLE, out, fingerprint=fp, metrics=metrics, move=True,
            params={"job_id": job.job_id, "kind": "sft", "base_model": base_name, "max_steps": steps,
                    "learning_rate": lr, "n_train": len(train)},
            note=f"SFT job {job.job_id}")
    job.log(f"registered {ROLE} {info.version} as a candidate")
    return JobResult(version_id=info.id, metrics=metrics, detail={"version": info.version})
