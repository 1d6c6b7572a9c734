"""The records a job trains on: its training set when launched with one, else a fresh export."""

from __future__ import annotations

from typing import Any

from ops_console import export
from ops_console.jobs.runner import JobContext


def job_records(job: JobContext, kind: str) -> tuple[list[dict[str, Any]], str]:
    """(records in TRL format, fingerprint) for `kind` (sft, dpo or nlu)."""
    if job.training_set_id:
        row, recs = export.load_set(job.db, job.training_set_id, job.tenant_id)
        if row.kind != kind or row.format != "trl":
            raise ValueError(f"training set {row.id} is {row.kind}/{row.format}, the job needs {kind}/trl")
        job.log(f"training set {row.id}: {len(recs)} {kind} examples")
        return recs, row.fingerprint
    exported = export.export(job.db, job.settings.data_dir, job.tenant_id, kind, "trl", actor=job.created_by or "job")
    _, recs = export.load_set(job.db, exported.id, job.tenant_id)
    job.log(f"exported {len(recs)} {kind} examples from the current annotations (set {exported.id})")
    return recs, exported.fingerprint
