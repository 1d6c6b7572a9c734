"""Training jobs, one module per kind; `JOB_KINDS` maps a kind to its module's `run(job)` function."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ops_console.jobs.runner import JobContext, JobResult

#: kind -> (module, default queue, what it does)
JOB_KINDS: dict[str, tuple[str, str, str]] = {
    "kb-index": ("ops_console.jobs.kb_index", "cpu", "rebuild the tenant's KB index (publish the draft)"),
    "nlu": ("ops_console.jobs.nlu", "cpu", "retrain the intent classifier with the intent fixes"),
    "embedder": ("ops_console.jobs.embedder", "gpu", "fine-tune the embedder on question pairs"),
    "reranker": ("ops_console.jobs.reranker", "gpu", "train the FAQ reranker"),
    "sft": ("ops_console.jobs.sft", "gpu", "SFT of the chat LoRA adapter on better replies"),
    "dpo": ("ops_console.jobs.dpo", "gpu", "DPO of the chat LoRA adapter on preference pairs"),
}


def job_function(kind: str) -> Callable[[JobContext], JobResult]:
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}; expected one of {sorted(JOB_KINDS)}")
    return import_module(JOB_KINDS[kind][0]).run  # type: ignore[no-any-return]
