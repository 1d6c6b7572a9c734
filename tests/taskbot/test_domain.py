"""Domain YAML: the demo domains load; bad files are reported with file and line; reloads keep the
running domains when the new files are broken."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from taskbot.bot import TaskBot
from taskbot.domain import PACKAGED_DOMAINS, DomainLoadError, load_domain_dir, load_domain_file

DEMO = PACKAGED_DOMAINS / "demo"

GOOD = """\
domain: ping
title: {zh: 测试, en: test}
intents:
  ping:
    patterns: ['ping']
    examples: {en: [ping]}
slots:
  order_id: {type: order_id}
form:
  required: [order_id]
responses:
  done: {en: "pong {order_id}"}
"""


def test_load_demo_domains_all_six_tasks() -> None:
    dset = load_domain_dir(DEMO)
    assert set(dset.domains) == {"order_status", "logistics", "return_refund", "change_address", "invoice", "cancel_order"}
    assert dset.intent_to_domain()["request_return"] == "return_refund"
    assert dset.domains["return_refund"].side_effect and not dset.domains["logistics"].side_effect
    assert dset.common.responses["handoff"]["zh"]


@pytest.mark.parametrize(
    ("broken", "line", "where", "words"),
    [
        # a slot type that does not exist, on line 8
        (GOOD.replace("{type: order_id}", "{type: colour}"), 8, "slots.order_id.type", "order_id"),
        # the form asks for a slot that is not declared
        (GOOD.replace("required: [order_id]", "required: [order_id, phone]"), 1, "", "phone"),
        # an unknown key under the intent, on line 5
        (GOOD.replace("    patterns: ['ping']", "    paterns: ['ping']"), 5, "intents.ping.paterns", "Extra inputs"),
        # no `done` response
        (GOOD.replace('  done: {en: "pong {order_id}"}', '  ok: {en: "pong"}'), 1, "", "done"),
        # an unclosed flow list opened on line 4: the parser stops on line 6
        (GOOD.replace("  ping:\n", "  ping: [\n", 1), 6, "", "YAML syntax"),
    ],
)
def test_load_domain_file_reports_file_line_and_problem(tmp_path: Path, broken: str, line: int, where: str, words: str) -> None:
    path = tmp_path / "ping.yml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(DomainLoadError) as info:
        load_domain_file(path)
    err = info.value.errors[0]
    assert err.file == str(path)
    assert err.line == line
    assert err.where == where
    assert words in str(err)


def test_load_domain_dir_rejects_an_intent_claimed_twice(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yml").write_text(GOOD.replace("domain: ping", "domain: pong"), encoding="utf-8")
    with pytest.raises(DomainLoadError, match="already defined by domain 'ping'"):
        load_domain_dir(tmp_path)


async def test_runtime_reload_keeps_old_domains_when_new_file_is_broken(ctx) -> None:  # type: ignore[no-untyped-def]
    tenant_dir = ctx.settings.data_dir / "tasks" / "acme"
    tenant_dir.mkdir(parents=True)
    (tenant_dir / "ping.yml").write_text(GOOD, encoding="utf-8")
    bot = TaskBot()
    await bot.load(ctx)
    try:
        rt = await bot.runtime("acme")
        assert rt is not None and set(rt.dset.domains) == {"ping"}

        (tenant_dir / "ping.yml").write_text(GOOD.replace("{type: order_id}", "{type: colour}"), encoding="utf-8")
        bot.invalidate("acme")
        rt2 = await bot.runtime("acme")
        assert rt2 is not None and set(rt2.dset.domains) == {"ping"}  # still serving the old one
        assert "ping.yml:8" in bot.ready()["taskbot.acme"]

        (tenant_dir / "ping.yml").write_text(GOOD.replace("domain: ping", "domain: pong"), encoding="utf-8")
        bot.invalidate("acme")
        rt3 = await bot.runtime("acme")
        assert rt3 is not None and set(rt3.dset.domains) == {"pong"}
        assert "taskbot.acme" not in bot.ready()
    finally:
        await bot.close()


async def test_task_changed_event_reloads_without_restart(ctx) -> None:  # type: ignore[no-untyped-def]
    tenant_dir = ctx.settings.data_dir / "tasks" / "acme"
    tenant_dir.mkdir(parents=True)
    shutil.copy(DEMO / "_common.yml", tenant_dir / "_common.yml")
    (tenant_dir / "ping.yml").write_text(GOOD, encoding="utf-8")
    bot = TaskBot()
    await bot.load(ctx)
    try:
        assert set((await bot.runtime("acme")).dset.domains) == {"ping"}  # type: ignore[union-attr]
        (tenant_dir / "pong.yml").write_text(GOOD.replace("domain: ping", "domain: pong").replace("ping:\n    patterns: ['ping']", "pong:\n    patterns: ['pong']"), encoding="utf-8")
        import asyncio

        await asyncio.sleep(0.3)  # the listener subscribes
        await ctx.redis.publish(ctx.key("events", "task-changed"), json.dumps({"tenant_id": "acme"}))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rt = await bot.runtime("acme")
            if rt is not None and "pong" in rt.dset.domains:
                break
            await asyncio.sleep(0.1)
        assert set((await bot.runtime("acme")).dset.domains) == {"ping", "pong"}  # type: ignore[union-attr]
    finally:
        await bot.close()


async def test_runtime_notices_edited_files_by_mtime(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import taskbot.bot as botmod

    monkeypatch.setattr(botmod, "RELOAD_CHECK_S", 0.0)
    tenant_dir = ctx.settings.data_dir / "tasks" / "acme"
    tenant_dir.mkdir(parents=True)
    path = tenant_dir / "ping.yml"
    path.write_text(GOOD, encoding="utf-8")
    bot = TaskBot()
    await bot.load(ctx)
    try:
        assert set((await bot.runtime("acme")).dset.domains) == {"ping"}  # type: ignore[union-attr]
        path.write_text(GOOD.replace("domain: ping", "domain: pong"), encoding="utf-8")
        import os

        st = path.stat()
        os.utime(path, (st.st_atime, st.st_mtime + 5))  # a later mtime even on coarse clocks
        assert set((await bot.runtime("acme")).dset.domains) == {"pong"}  # type: ignore[union-attr]
    finally:
        await bot.close()
