"""Read-only queries behind the Review and Analytics tabs (one tenant at a time, always)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from csbot.storage.db import Database
from csbot.storage.models import Conversation, Feedback, TurnLog

DAY = 86400.0


@dataclass(frozen=True)
class ReviewFilter:
    days: float = 7.0
    route: str = ""
    max_confidence: float | None = None
    feedback: str = "any"  # any | negative | positive
    handoff_only: bool = False
    tag: str = ""
    text: str = ""
    limit: int = 200


def search_turns(db: Database, tenant_id: str, f: ReviewFilter) -> pd.DataFrame:
    since = time.time() - f.days * DAY
    stmt = (select(TurnLog, Conversation.status, Conversation.tags, Conversation.handoff_at)
            .join(Conversation, Conversation.id == TurnLog.conversation_id)
            .where(TurnLog.tenant_id == tenant_id, TurnLog.created_at >= since))
    if f.route:
        stmt = stmt.where(TurnLog.route == f.route)
    if f.max_confidence is not None:
        stmt = stmt.where(TurnLog.confidence <= f.max_confidence)
    if f.text:
        stmt = stmt.where(TurnLog.user_text.contains(f.text))
    if f.feedback in ("negative", "positive"):
        rated = select(Feedback.turn_id).where(Feedback.tenant_id == tenant_id,
                                               Feedback.rating < 0 if f.feedback == "negative" else Feedback.rating > 0)
        stmt = stmt.where(TurnLog.id.in_(rated))
    if f.handoff_only:
        stmt = stmt.where(Conversation.handoff_at.is_not(None))
    stmt = stmt.order_by(TurnLog.created_at.desc()).limit(f.limit * (4 if f.tag else 1))
    rows = []
    with db.session() as s:
        for t, _status, tags, handoff_at in s.execute(stmt):
            if f.tag and f.tag not in (tags or []):
                continue
            rows.append({"time": time.strftime("%m-%d %H:%M:%S", time.localtime(t.created_at)), "turn_id": t.id,
                         "user": t.user_text[:80], "reply": (t.reply_text or "")[:80], "route": t.route or "",
                         "confidence": round(t.confidence, 3) if t.confidence is not None else None,
                         "latency_ms": round(t.latency_ms or 0.0, 1), "handoff": handoff_at is not None,
                         "tags": ",".join(map(str, tags or []))})
    return pd.DataFrame(rows[: f.limit], columns=["time", "turn_id", "user", "reply", "route", "confidence",
                                                   "latency_ms", "handoff", "tags"])


def turn_detail(db: Database, tenant_id: str, turn_id: str) -> dict[str, Any]:
    """Everything an operator needs to see why the bot answered: normalised text, scores, trace, timings."""
    with db.session() as s:
        t = s.get(TurnLog, turn_id.strip())
        if t is None or t.tenant_id != tenant_id:
            return {"error": f"no turn {turn_id}"}
        return {"turn_id": t.id, "conversation_id": t.conversation_id, "user_text": t.user_text,
                "normalised": t.normalised, "reply": t.reply_text, "kind": t.kind, "route": t.route,
                "confidence": t.confidence, "router_scores": t.scores, "source": t.source, "cached": t.cached,
                "latency_ms": t.latency_ms, "steps_ms": t.steps_ms, "trace": t.trace, "error": t.error}


def _turns(db: Database, tenant_id: str, since: float, until: float) -> pd.DataFrame:
    stmt = (select(TurnLog.id, TurnLog.created_at, TurnLog.route, TurnLog.kind, TurnLog.latency_ms, TurnLog.cached,
                   TurnLog.source, TurnLog.conversation_id, Conversation.handoff_at)
            .join(Conversation, Conversation.id == TurnLog.conversation_id)
            .where(TurnLog.tenant_id == tenant_id, TurnLog.created_at >= since, TurnLog.created_at < until,
                   TurnLog.status == "done"))
    neg = select(Feedback.turn_id).where(Feedback.tenant_id == tenant_id, Feedback.rating < 0)
    with db.session() as s:
        rows = s.execute(stmt).all()
        disliked = {r[0] for r in s.execute(neg)}
    df = pd.DataFrame(rows, columns=["id", "created_at", "route", "kind", "latency_ms", "cached", "source",
                                     "conversation_id", "handoff_at"])
    df["disliked"] = df["id"].isin(disliked)
    df["day"] = pd.to_datetime(df["created_at"], unit="s").dt.strftime("%Y-%m-%d")
    df["model_version"] = [(s or {}).get("model_version") or (s or {}).get("bot") or "" for s in df["source"]]
    return df


@dataclass
class Analytics:
    volume: pd.DataFrame
    routes: pd.DataFrame
    rates: pd.DataFrame
    latency: pd.DataFrame
    versions: pd.DataFrame
    summary: dict[str, Any]


def analytics(db: Database, tenant_id: str, days: float, *, cache_stats: dict[str, str] | None = None) -> Analytics:
    until = time.time()
    df = _turns(db, tenant_id, until - days * DAY, until)
    if df.empty:
        empty = pd.DataFrame({"day": [], "turns": []})
        return Analytics(empty, pd.DataFrame({"route": [], "turns": []}), pd.DataFrame({"day": [], "rate": [], "metric": []}),
                         pd.DataFrame({"percentile": [], "ms": []}), pd.DataFrame(), {"turns": 0})
    volume = df.groupby("day").size().reset_index(name="turns")
    routes = df.groupby(df["route"].fillna("none")).size().reset_index(name="turns")
    conv = df.groupby(["day", "conversation_id"]).agg(handoff=("handoff_at", lambda v: v.notna().any()),
                                                     disliked=("disliked", "any")).reset_index()
    per_day = conv.groupby("day").agg(handoff_rate=("handoff", "mean"),
                                      resolution=("handoff", lambda v: 0.0)).reset_index()
    per_day["resolution"] = conv.groupby("day").apply(
        lambda g: float((~g["handoff"] & ~g["disliked"]).mean()), include_groups=False).values
    rates = per_day.melt(id_vars="day", value_vars=["handoff_rate", "resolution"], var_name="metric", value_name="rate")
    lat = df["latency_ms"].dropna().to_numpy()
    latency = pd.DataFrame({"percentile": ["p50", "p90", "p95", "p99"],
                            "ms": [round(float(np.percentile(lat, q)), 1) if lat.size else 0.0 for q in (50, 90, 95, 99)]})
    versions = (df.groupby("model_version")
                .agg(turns=("id", "size"), thumbs_down=("disliked", "mean"),
                     handoff=("handoff_at", lambda v: v.notna().mean()), p50_ms=("latency_ms", "median"))
                .reset_index().round(3))
    lookups = int((cache_stats or {}).get("lookups", 0) or 0)
    hits = int((cache_stats or {}).get("hits", 0) or 0)
    summary = {"turns": int(len(df)), "conversations": int(df["conversation_id"].nunique()),
               "handoff_rate": round(float(conv["handoff"].mean()), 3),
               "resolution": round(float((~conv["handoff"] & ~conv["disliked"]).mean()), 3),
               "cache_hit_rate": round(hits / lookups, 3) if lookups else None, "cache_lookups": lookups}
    return Analytics(volume, routes, rates, latency, versions, summary)


def cluster_unanswered(queries: list[str], encoder: Any | None, max_clusters: int = 10) -> pd.DataFrame:
    """Top unanswered questions grouped by meaning (agglomerative clustering of embeddings, cosine), or by
    exact text when no encoder is available."""
    if not queries:
        return pd.DataFrame({"cluster": [], "size": [], "example": []})
    if encoder is None or len(queries) < 3:
        counts = pd.Series(queries).value_counts().head(max_clusters)
        return pd.DataFrame({"cluster": range(1, len(counts) + 1), "size": counts.values, "example": counts.index})
    from sklearn.cluster import AgglomerativeClustering

    vecs = np.asarray(encoder.encode_queries(queries), dtype=np.float32)
    labels = AgglomerativeClustering(n_clusters=None, distance_threshold=0.25, metric="cosine",
                                     linkage="average").fit_predict(vecs)
    groups = pd.DataFrame({"label": labels, "q": queries}).groupby("label")["q"].agg(["size", "first"])
    groups = groups.sort_values("size", ascending=False).head(max_clusters).reset_index(drop=True)
    return pd.DataFrame({"cluster": range(1, len(groups) + 1), "size": groups["size"], "example": groups["first"]})
