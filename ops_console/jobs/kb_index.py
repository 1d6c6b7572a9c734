"""Rebuild the tenant's KB index: publish the FAQ draft (with the similar questions added by annotations)
as a new version, through the KB bot's own service."""

from __future__ import annotations

import redis as redis_sync

from ops_console.jobs.runner import JobContext, JobResult


def run(job: JobContext) -> JobResult:
    from csbot.models.hub import ModelHub
    from kbbot.service import KBService

    hub = ModelHub(job.settings, job.db)
    milvus = str(job.params.get("milvus_uri") or job.settings.milvus_uri)
    if not milvus:
        raise ValueError("no Milvus URI: set CSBOT_MILVUS_URI (csbot up passes the embedded server's)")
    redis = job.redis if isinstance(job.redis, redis_sync.Redis) else None
    service = KBService(job.db, milvus, lambda: hub.embedder(job.tenant_id), redis, job.settings.redis_prefix)
    job.progress(0.1)
    job.check_cancel()
    version = service.publish(job.tenant_id, note=f"job {job.job_id}")
    stats = service.last_stats
    job.log(f"published KB version {version}" + (f" ({stats.encoded} encoded, {stats.reused} reused)" if stats else ""))
    detail: dict[str, object] = {"kb_version": version}
    if stats is not None:
        detail.update(questions=stats.questions, encoded=stats.encoded, reused=stats.reused)
    return JobResult(detail=detail)
