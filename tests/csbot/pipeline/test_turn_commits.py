"""The hot path's durability writes: two SQL commits per turn, and nothing they used to guarantee lost.

The user's turn is committed before any bot runs (accept); the reply, the turn's log row and the
dialogue state's SQL copy are committed together (complete). These tests pin both halves.
"""

from __future__ import annotations

from sqlalchemy import event, select

from csbot.context import AppContext
from csbot.pipeline.pipeline import Pipeline
from csbot.storage.models import DialogueStateRow, Message, Tenant, TurnLog
from csbot.types import Turn
from tests.csbot.spine_bots import KeywordBot, RaisingBot, registry

T = "acme"


def _tenant(ctx: AppContext) -> None:
    with ctx.db.session() as s:
        s.add(Tenant(id=T, name="Acme"))


async def test_a_turn_costs_two_commits_and_the_state_goes_to_sql_with_the_log(ctx: AppContext) -> None:
    _tenant(ctx)
    pipe = Pipeline(ctx, registry(KeywordBot("task", "退货", 0.9, owns=True), KeywordBot("kb", "运费", 0.8)))
    # first turn: tenant caches warm up, and the state (none in Redis yet) is looked up in SQL
    await pipe.handle(Turn(tenant_id=T, session_id="s1", text="运费多少"))
    commits: list[int] = []
    event.listen(ctx.db.engine, "commit", lambda conn: commits.append(1))
    result = await pipe.handle(Turn(tenant_id=T, session_id="s1", text="我要退货"))
    assert len(commits) == 2  # accept, then complete (log + bot message + dialogue state)
    with ctx.db.session() as s:
        row = s.get(DialogueStateRow, (T, "s1"))
        assert row is not None and row.data["active_bot"] == "task" and row.data["turns"] == 2
        assert s.get(TurnLog, result.turn_id).status == "done"  # type: ignore[union-attr]
    # Redis lost (restart, eviction): the open task comes back from SQL
    await ctx.redis.delete(ctx.states._key(T, "s1"))
    assert (await pipe.handle(Turn(tenant_id=T, session_id="s1", text="退货 done"))).route == "task"
    state = await ctx.states.load(T, "s1")
    assert state.active_bot is None and state.turns == 3


async def test_the_user_turn_is_committed_before_the_bot_runs(ctx: AppContext) -> None:
    _tenant(ctx)
    seen: list[list[str]] = []

    class PeekingBot(KeywordBot):
        async def reply(self, turn, state, hint=None):  # type: ignore[no-untyped-def]
            # another connection sees the customer's message while the bot is still working
            with ctx.db.session() as s:
                seen.append(list(s.scalars(select(Message.role).where(Message.tenant_id == T))))
            return await super().reply(turn, state, hint)

    pipe = Pipeline(ctx, registry(PeekingBot("kb", "运费", 0.9)))
    await pipe.handle(Turn(tenant_id=T, session_id="s1", text="运费怎么算"))
    assert seen == [["user"]]


async def test_a_failing_bot_still_saves_the_failure_count_with_the_turn(ctx: AppContext) -> None:
    _tenant(ctx)
    pipe = Pipeline(ctx, registry(RaisingBot("kb", "退货", 0.9)))
    await pipe.handle(Turn(tenant_id=T, session_id="s1", text="我要退货"))
    with ctx.db.session() as s:
        row = s.get(DialogueStateRow, (T, "s1"))
        assert row is not None and row.data["failures"] == 1


def test_state_row_upsert_on_postgresql(pg_url: str) -> None:
    from csbot.sessions import write_state_row
    from csbot.storage.db import Database
    from csbot.storage.migrate import upgrade

    upgrade(pg_url)
    db = Database(pg_url)
    try:
        for turns in (1, 2):  # insert, then update in place
            with db.session() as s:
                write_state_row(s, T, "s1", {"tenant_id": T, "session_id": "s1", "turns": turns}, float(turns))
        with db.session() as s:
            row = s.get(DialogueStateRow, (T, "s1"))
            assert row is not None and row.data["turns"] == 2 and row.updated_at == 2.0
    finally:
        db.dispose()
