"""Closing turns a dead process left open.

A turn is accepted (user's message + `pending` row) before any bot runs and completed after; a
process killed in between leaves the row `pending` for good. At startup such rows, older than any
turn could take, are marked failed, so the log and analytics say "no reply was produced" rather
than "still thinking". The customer's message itself is kept.
"""

from __future__ import annotations

import time

from sqlalchemy import update

from csbot.storage.db import Database
from csbot.storage.models import TurnLog

#: far above any turn's time budget (generation 20 s, backend calls a few s), so turns still in
#: flight on other replicas are never touched
INTERRUPTED_AFTER_S = 300.0
INTERRUPTED_ERROR = "interrupted: the server stopped before replying"


def close_interrupted(db: Database, older_than_s: float = INTERRUPTED_AFTER_S) -> int:
    """Mark turns `pending` for more than `older_than_s` as failed; returns how many."""
    cutoff = time.time() - older_than_s
    with db.session() as s:
        result = s.execute(update(TurnLog).where(TurnLog.status == "pending", TurnLog.created_at < cutoff)
                           .values(status="failed", error=INTERRUPTED_ERROR))
        return int(getattr(result, "rowcount", 0) or 0)
