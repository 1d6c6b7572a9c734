"""Everything KB-Bot holds in memory for one tenant's live version, and how it is built."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csbot.lexicon import read_entries
from kbbot.confidence import Calibration
from kbbot.constants import LEX_DICTIONARY, LEX_STOPWORD, LEX_SYNONYM
from kbbot.dense_index import DenseIndex, DenseUnavailable
from kbbot.fusion import FusionParams
from kbbot.graph import KnowledgeGraph, load_graph
from kbbot.kb_store import KBStore
from kbbot.matcher import FaqMatcher, MatchConfig, MatchResult
from kbbot.reranker import ROLE as RERANKER_ROLE
from kbbot.reranker import Reranker, load_reranker
from kbbot.schema import FaqItem
from kbbot.text import KEEP, ZH_STOPWORDS, TextProcessor, add_words

if TYPE_CHECKING:
    from csbot.context import AppContext

log = logging.getLogger(__name__)

#: where `csbot kb train-reranker --install-default` puts the shared reranker when no registry
#: version serves the role
DEFAULT_RERANKER_DIR = "kb-reranker"


@dataclass
class TenantKB:
    tenant_id: str
    version: int
    items: dict[str, FaqItem]
    matcher: FaqMatcher | None
    graph: KnowledgeGraph | None
    calibration: Calibration
    variables: dict[str, Any] = field(default_factory=dict)
    embedder_version: str = ""
    reranker_version: str = ""
    reranker_note: str = ""

    @property
    def model_version(self) -> str:
        return f"{self.embedder_version}+{self.reranker_version or 'fusion'}"

    def served_mode(self, query: str) -> tuple[str, str]:
        """The mode this query is served in, and a note when that is not the matcher's own mode.

        With weight 0 for the query's language (no calibration set one, or `kb calibrate` found it
        did not raise top-1 enough to pay for itself) the cross-encoder cannot move the order, so it
        is not run on the hot path: it would cost latency and change nothing.
        """
        assert self.matcher is not None
        mode = self.matcher.mode
        if mode == "rerank" and self.matcher.config.fusion.for_query(query).rerank_weight <= 0:
            return "fusion", "reranker off for this language (calibrated rerank weight 0): fusion order"
        return mode, ""

    def match(self, query: str, channel: str | None = None, mode: str | None = None) -> MatchResult:
        assert self.matcher is not None
        m = self.matcher
        note = ""
        if mode is None:
            mode, note = self.served_mode(query)
        timings: dict[str, float] = {}
        degraded = ""
        try:
            ranked = m.retrieve(query, timings=timings)
        except DenseUnavailable as exc:  # answer from BM25 alone, with its own calibration
            degraded = f"vector store unavailable, BM25 only: {exc}"
            ranked = m.retrieve(query, timings=timings, use_dense=False)
            mode = "bm25"
        now = time.time()
        ranked = [c for c in ranked if self._servable(self.items[c.faq_id], channel, now)]
        if mode == "rerank":
            m.rerank(query, ranked, timings)
        result = FaqMatcher.decide(query, ranked, mode, self.calibration.for_mode(mode, query), timings)
        result.degraded = degraded
        result.note = note
        return result

    @staticmethod
    def _servable(item: FaqItem, channel: str | None, now: float) -> bool:
        if not item.live_at(now):
            return False
        return not (item.channels and channel and channel not in item.channels)


def processor_for(ctx: AppContext, tenant_id: str) -> TextProcessor:
    synonyms = {e.term: e.value for e in read_entries(ctx.db, tenant_id, LEX_SYNONYM) if e.value}
    add_words(e.term for e in read_entries(ctx.db, tenant_id, LEX_DICTIONARY))
    extra_stop = {e.term for e in read_entries(ctx.db, tenant_id, LEX_STOPWORD)}
    stop = None
    if extra_stop:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        stop = (ZH_STOPWORDS - KEEP) | frozenset(ENGLISH_STOP_WORDS) | extra_stop
    return TextProcessor(synonyms=synonyms, stopwords=stop)


def reranker_for(ctx: AppContext, tenant_id: str) -> tuple[Reranker | None, str]:
    from csbot.models.hub import ModelNotAvailable

    default = ctx.settings.models_dir / DEFAULT_RERANKER_DIR
    try:
        r = ctx.models.get(RERANKER_ROLE, load_reranker, tenant_id=tenant_id,
                           default=default if (default / "config.json").is_file() else None)
        return r, ""
    except ModelNotAvailable:
        return None, "no trained reranker: fusion scores only (run `csbot kb train-reranker`)"
    except Exception as exc:  # a broken artefact must not take the FAQ answers down
        log.exception("reranker for %s failed to load", tenant_id)
        return None, f"reranker failed to load ({exc.__class__.__name__}): fusion scores only"


def variables_for(store: KBStore, tenant_id: str) -> dict[str, Any]:
    settings = store.tenant_settings(tenant_id)
    values: dict[str, Any] = {k: v for k, v in settings.items() if isinstance(v, str | int | float)}
    values.update(settings.get("variables") or {})
    return values


def build_tenant_kb(ctx: AppContext, tenant_id: str, default: Calibration) -> TenantKB | None:
    """The live version's matcher and graph, or None when the tenant has neither."""
    store = KBStore(ctx.db)
    version = store.live_version(tenant_id)
    graph = load_graph(ctx.db, tenant_id)
    calibration = default.merged(store.thresholds(tenant_id))
    if version is None and graph is None:
        return None
    items = store.version_items(tenant_id, version) if version is not None else []
    matcher = None
    embedder_version = reranker_version = note = ""
    if items and version is not None:
        encoder = ctx.models.embedder()
        reranker, note = reranker_for(ctx, tenant_id)
        fusion = FusionParams.model_validate(calibration.fusion) if calibration.fusion else FusionParams()
        matcher = FaqMatcher(tenant_id, version, items, processor_for(ctx, tenant_id), encoder,
                             DenseIndex(ctx.milvus_uri), MatchConfig(fusion=fusion), reranker=reranker)
        matcher.load()
        embedder_version = encoder.version
        reranker_version = reranker.version if reranker is not None else ""
    log.info("loaded KB of %s: version %s, %d items, graph %s, reranker %s", tenant_id, version, len(items),
             "yes" if graph else "no", reranker_version or "none")
    return TenantKB(tenant_id=tenant_id, version=version or 0, items={it.faq_id: it for it in items},
                    matcher=matcher, graph=graph, calibration=calibration,
                    variables=variables_for(store, tenant_id), embedder_version=embedder_version,
                    reranker_version=reranker_version, reranker_note=note)


__all__ = ["TenantKB", "build_tenant_kb", "DEFAULT_RERANKER_DIR", "Path"]
