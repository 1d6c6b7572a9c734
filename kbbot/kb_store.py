"""SQL side of the knowledge base: the draft, published versions, the live pointer, thresholds."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import delete, func, select

from csbot.storage.db import Database
from csbot.storage.kb import KBItem, KBTenant, KBVersion, KBVersionItem
from csbot.storage.models import Tenant
from kbbot.faq_io import question_key
from kbbot.schema import FaqItem, ImportReport, RowProblem

log = logging.getLogger(__name__)


def _item_from_row(r: KBItem) -> FaqItem:
    return FaqItem(
        faq_id=r.faq_id, question=r.question, answer=r.answer, similar=list(r.similar or []),
        category=r.category, tags=list(r.tags or []), channels=list(r.channels or []), lang=r.lang,
        valid_from=r.valid_from, valid_to=r.valid_to, enabled=r.enabled,
    )


def _apply(row: KBItem, item: FaqItem) -> None:
    row.question = item.question
    row.answer = item.answer
    row.similar = list(item.similar)
    row.category = item.category
    row.tags = list(item.tags)
    row.channels = list(item.channels)
    row.lang = item.lang
    row.valid_from = item.valid_from
    row.valid_to = item.valid_to
    row.enabled = item.enabled
    row.updated_at = time.time()


class KBStore:
    """All SQL reads and writes of the KB; each public method is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- tenants -------------------------------------------------------------------------------
    def ensure_tenant(self, tenant_id: str) -> None:
        with self.db.session() as s:
            if s.get(Tenant, tenant_id) is None:
                s.add(Tenant(id=tenant_id, name=tenant_id))
                s.flush()
            if s.get(KBTenant, tenant_id) is None:
                s.add(KBTenant(tenant_id=tenant_id, thresholds={}))

    def tenant_settings(self, tenant_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            t = s.get(Tenant, tenant_id)
            return dict(t.settings or {}) if t is not None else {}

    def tenants_with_kb(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(KBTenant.tenant_id).where(KBTenant.live_version.is_not(None))))

    # --- draft ---------------------------------------------------------------------------------
    def draft_items(self, tenant_id: str) -> list[FaqItem]:
        with self.db.session() as s:
            rows = s.scalars(select(KBItem).where(KBItem.tenant_id == tenant_id).order_by(KBItem.id)).all()
            return [_item_from_row(r) for r in rows]

    def draft_item(self, tenant_id: str, faq_id: str) -> FaqItem | None:
        with self.db.session() as s:
            r = s.scalar(select(KBItem).where(KBItem.tenant_id == tenant_id, KBItem.faq_id == faq_id))
            return _item_from_row(r) if r is not None else None

    def conflicts(self, tenant_id: str, items: list[FaqItem], lines: dict[str, int] | None = None,
                  replacing_all: bool = False) -> list[RowProblem]:
        """Questions of `items` already claimed by another draft item that stays in the draft."""
        if replacing_all:
            return []
        incoming = {it.faq_id for it in items}
        owner: dict[str, str] = {}
        for other in self.draft_items(tenant_id):
            if other.faq_id in incoming:
                continue
            for q in other.questions():
                owner[question_key(q)] = other.faq_id
        problems = []
        for it in items:
            for column, texts in (("question", [it.question]), ("similar", it.similar)):
                for text in texts:
                    prev = owner.get(question_key(text))
                    if prev is not None:
                        problems.append(RowProblem(
                            line=(lines or {}).get(it.faq_id, 0), column=column,
                            reason=f"question {text!r} is already claimed by item {prev!r} in the knowledge base"))
        return problems

    def import_items(self, tenant_id: str, items: list[FaqItem], *, replace: bool = False) -> ImportReport:
        """Store validated items in the draft in one transaction (upsert by id; `replace` drops the rest)."""
        self.ensure_tenant(tenant_id)
        created = updated = 0
        with self.db.session() as s:
            existing = {r.faq_id: r for r in s.scalars(select(KBItem).where(KBItem.tenant_id == tenant_id))}
            if replace:
                keep = {it.faq_id for it in items}
                for faq_id, row in existing.items():
                    if faq_id not in keep:
                        s.delete(row)
            for it in items:
                found = existing.get(it.faq_id)
                if found is None:
                    found = KBItem(tenant_id=tenant_id, faq_id=it.faq_id)
                    s.add(found)
                    created += 1
                else:
                    updated += 1
                _apply(found, it)
            self._touch(s, tenant_id)
        return ImportReport(ok=True, items=len(items), created=created, updated=updated)

    def upsert_item(self, tenant_id: str, item: FaqItem) -> bool:
        """Create or replace one draft item; True when it was created."""
        self.ensure_tenant(tenant_id)
        with self.db.session() as s:
            row = s.scalar(select(KBItem).where(KBItem.tenant_id == tenant_id, KBItem.faq_id == item.faq_id))
            created = row is None
            if row is None:
                row = KBItem(tenant_id=tenant_id, faq_id=item.faq_id)
                s.add(row)
            _apply(row, item)
            self._touch(s, tenant_id)
        return created

    def delete_item(self, tenant_id: str, faq_id: str) -> bool:
        with self.db.session() as s:
            result = s.execute(delete(KBItem).where(KBItem.tenant_id == tenant_id, KBItem.faq_id == faq_id))
            n = getattr(result, "rowcount", 0)  # a CursorResult for DML; typed as the generic Result
            self._touch(s, tenant_id)
        return bool(n)

    @staticmethod
    def _touch(s: Any, tenant_id: str) -> None:
        kt = s.get(KBTenant, tenant_id)
        if kt is not None:
            kt.draft_updated_at = time.time()

    # --- versions ------------------------------------------------------------------------------
    def next_version(self, tenant_id: str) -> int:
        with self.db.session() as s:
            top = s.scalar(select(func.max(KBVersion.version)).where(KBVersion.tenant_id == tenant_id))
            return int(top or 0) + 1

    def save_version(self, tenant_id: str, version: int, items: list[FaqItem], *, embedder_version: str,
                     note: str = "") -> None:
        """Freeze `items` as `version` and make it live, in one transaction."""
        with self.db.session() as s:
            s.add(KBVersion(tenant_id=tenant_id, version=version, item_count=len(items),
                            embedder_version=embedder_version, note=note))
            s.add_all(KBVersionItem(tenant_id=tenant_id, version=version, faq_id=it.faq_id,
                                    data=it.model_dump(mode="json")) for it in items)
            kt = s.get(KBTenant, tenant_id)
            if kt is None:
                kt = KBTenant(tenant_id=tenant_id, thresholds={})
                s.add(kt)
            kt.live_version = version
            kt.updated_at = time.time()

    def set_live(self, tenant_id: str, version: int) -> None:
        with self.db.session() as s:
            if s.get(KBVersion, (tenant_id, version)) is None:
                raise KeyError(f"tenant {tenant_id!r} has no KB version {version}")
            kt = s.get(KBTenant, tenant_id)
            assert kt is not None
            kt.live_version = version
            kt.updated_at = time.time()

    def live_version(self, tenant_id: str) -> int | None:
        with self.db.session() as s:
            kt = s.get(KBTenant, tenant_id)
            return kt.live_version if kt is not None else None

    def versions(self, tenant_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(select(KBVersion).where(KBVersion.tenant_id == tenant_id)
                             .order_by(KBVersion.version)).all()
            return [{"version": r.version, "items": r.item_count, "embedder_version": r.embedder_version,
                     "note": r.note, "created_at": r.created_at} for r in rows]

    def version_embedder(self, tenant_id: str, version: int) -> str | None:
        with self.db.session() as s:
            r = s.get(KBVersion, (tenant_id, version))
            return r.embedder_version if r is not None else None

    def version_items(self, tenant_id: str, version: int) -> list[FaqItem]:
        with self.db.session() as s:
            rows = s.scalars(select(KBVersionItem).where(KBVersionItem.tenant_id == tenant_id,
                                                         KBVersionItem.version == version)).all()
            return [FaqItem.model_validate(r.data) for r in rows]

    # --- thresholds ----------------------------------------------------------------------------
    def thresholds(self, tenant_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            kt = s.get(KBTenant, tenant_id)
            return dict(kt.thresholds or {}) if kt is not None else {}

    def set_thresholds(self, tenant_id: str, values: dict[str, Any]) -> None:
        self.ensure_tenant(tenant_id)
        with self.db.session() as s:
            kt = s.get(KBTenant, tenant_id)
            assert kt is not None
            kt.thresholds = dict(values)
            kt.updated_at = time.time()
