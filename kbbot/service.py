"""KB operations shared by the CLI, the API and the tests: import, edit, publish, rollback, export.

Publishing is ordered so that nothing half-built is ever served: the new version's Milvus
collection is filled first, then one SQL transaction freezes the items and moves the live
pointer, then Redis gets the new version number (which the answer cache keys on) and every
process is told to reload through the `kb-changed` event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import redis as redis_sync

from csbot.storage.db import Database
from kbbot.constants import EVENT_KB_CHANGED, KEEP_VERSIONS, KEY_KB, KEY_VERSION
from kbbot.dense_index import DenseIndex
from kbbot.faq_io import load_file, write_file
from kbbot.indexer import IndexStats, Progress, build_collection
from kbbot.kb_store import KBStore
from kbbot.matcher import Encoder
from kbbot.schema import FaqItem, ImportReport, RowProblem

log = logging.getLogger(__name__)


class KBService:
    def __init__(self, db: Database, milvus_uri: str, encoder: Callable[[], Encoder],
                 redis: redis_sync.Redis | None, prefix: str) -> None:
        self.store = KBStore(db)
        self.dense = DenseIndex(milvus_uri)
        self._encoder = encoder
        self.redis = redis
        self.prefix = prefix
        #: what the last publish encoded and reused (for the CLI report and tests)
        self.last_stats: IndexStats | None = None

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- import / export -----------------------------------------------------------------------
    def import_file(self, tenant_id: str, path: Path, *, publish: bool = False, replace: bool = False,
                    progress: Progress | None = None) -> ImportReport:
        """Validate the whole file, then store it in the draft (all or nothing), then maybe publish."""
        items, problems = load_file(path)
        if not problems:
            lines = {it.faq_id: i for i, it in enumerate(items, start=2)}
            problems = self.store.conflicts(tenant_id, items, lines, replacing_all=replace)
        if problems:
            return ImportReport(ok=False, items=0, problems=problems)
        report = self.store.import_items(tenant_id, items, replace=replace)
        if publish:
            report.published_version = self.publish(tenant_id, progress=progress)
        return report

    def export(self, tenant_id: str, path: Path, *, version: int | None = None) -> int:
        items = self.items(tenant_id, version)
        write_file(items, path)
        return len(items)

    def items(self, tenant_id: str, version: int | None = None) -> list[FaqItem]:
        """The draft (version None) or a published version's items."""
        if version is None:
            return self.store.draft_items(tenant_id)
        return self.store.version_items(tenant_id, version)

    # --- edits ---------------------------------------------------------------------------------
    def save_item(self, tenant_id: str, item: FaqItem) -> list[RowProblem]:
        problems = self.store.conflicts(tenant_id, [item])
        if not problems:
            self.store.upsert_item(tenant_id, item)
        return problems

    # --- versions ------------------------------------------------------------------------------
    def publish(self, tenant_id: str, *, note: str = "", progress: Progress | None = None) -> int:
        items = self.store.draft_items(tenant_id)
        if not items:
            raise ValueError(f"tenant {tenant_id!r} has an empty draft: nothing to publish")
        encoder = self._encoder()
        version = self.store.next_version(tenant_id)
        live = self.store.live_version(tenant_id)
        reuse = live if live is not None and self.store.version_embedder(tenant_id, live) == encoder.version else None
        stats: IndexStats = build_collection(self.dense, encoder, tenant_id, version, items, reuse_from=reuse,
                                             progress=progress)
        self.last_stats = stats
        self.store.save_version(tenant_id, version, items, embedder_version=encoder.version, note=note)
        self._go_live(tenant_id, version)
        log.info("published %s v%d (%d items, %d encoded, %d reused)", tenant_id, version, len(items),
                 stats.encoded, stats.reused)
        self._retire_old(tenant_id)
        return version

    def rollback(self, tenant_id: str, version: int | None = None) -> int:
        """Serve an earlier version again (default: the one before the live one)."""
        live = self.store.live_version(tenant_id)
        available = [v["version"] for v in self.store.versions(tenant_id) if self.dense.has(tenant_id, v["version"])]
        if version is None:
            earlier = [v for v in available if live is None or v < live]
            if not earlier:
                raise ValueError(f"tenant {tenant_id!r} has no earlier version to roll back to")
            version = max(earlier)
        elif version not in available:
            raise ValueError(f"version {version} of tenant {tenant_id!r} is not available (kept: {available})")
        self.store.set_live(tenant_id, version)
        self._go_live(tenant_id, version)
        return version

    def _go_live(self, tenant_id: str, version: int) -> None:
        self.dense.switch_alias(tenant_id, version)
        if self.redis is not None:
            self.redis.set(self.key(KEY_KB, KEY_VERSION, tenant_id), version)
            self.redis.publish(self.key("events", EVENT_KB_CHANGED),
                               json.dumps({"tenant_id": tenant_id, "version": version}))

    def _retire_old(self, tenant_id: str) -> None:
        versions = sorted(v["version"] for v in self.store.versions(tenant_id))
        keep = set(versions[-KEEP_VERSIONS:])
        live = self.store.live_version(tenant_id)
        if live is not None:
            keep.add(live)
        dropped = self.dense.drop_versions(tenant_id, keep)
        if dropped:
            log.info("dropped Milvus collections of %s versions %s", tenant_id, dropped)
