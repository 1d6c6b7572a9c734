"""TaskBot against the real shop backend process, real Redis and real SQLite: the dialogues a
customer has with the demo shop, played turn by turn through the state store."""

from __future__ import annotations

import shutil

import httpx
import pytest

from csbot.types import ReplyKind
from taskbot.bot import TaskBot
from taskbot.domain import PACKAGED_DOMAINS

from .conftest import Conversation

Script = list[tuple[str, str, list[str]]]  # (user text, reply kind, words the reply must contain)

HAPPY: dict[str, tuple[Script, tuple[str, str, dict[str, object]]]] = {
    "order_status": (
        [("帮我查一下订单状态", "task_prompt", ["订单号"]), ("2026110002", "answer", ["2026110002", "已发货"])],
        ("GET", "/api/orders/2026110002", {}),
    ),
    "logistics": (
        [("我的快递到哪了", "task_prompt", ["订单号"]), ("订单号 2026110003", "answer", ["运单号"])],
        ("GET", "/api/logistics/2026110003", {}),
    ),
    "return_refund": (
        [
            ("我要退货", "task_prompt", ["订单号"]),
            ("2026110004", "task_prompt", ["原因"]),
            ("屏幕有划痕", "task_prompt", ["请确认", "屏幕有划痕", "审核"]),
            ("是", "answer", ["退货单号"]),
        ],
        ("POST", "/api/returns", {"order_id": "2026110004", "reason": "屏幕有划痕"}),
    ),
    "change_address": (
        [
            ("我想修改收货地址", "task_prompt", ["地址"]),
            ("2026110001", "task_prompt", ["地址"]),
            ("上海市浦东新区世纪大道100号8楼", "task_prompt", ["请确认"]),
            ("确认", "answer", ["世纪大道100号8楼"]),
        ],
        ("POST", "/api/orders/2026110001/address", {"address": "上海市浦东新区世纪大道100号8楼"}),
    ),
    "invoice": (
        [
            ("我要开发票", "task_prompt", ["订单号"]),
            ("2026110006", "task_prompt", ["抬头"]),
            ("北京小智科技有限公司", "task_prompt", ["邮箱"]),
            ("finance@example.com", "task_prompt", ["请确认", "finance@example.com"]),
            ("是的", "answer", ["发票号"]),
        ],
        ("POST", "/api/invoices", {"order_id": "2026110006", "title": "北京小智科技有限公司", "email": "finance@example.com"}),
    ),
    "cancel_order": (
        [("帮我把订单取消", "task_prompt", ["订单号"]), ("2026110009", "task_prompt", ["请确认"]), ("是", "answer", ["已取消"])],
        ("POST", "/api/orders/2026110009/cancel", {}),
    ),
}


def calls(shop) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return httpx.get(f"{shop.url}/api/_calls").json()["calls"]


def called(shop, method: str, path: str, body: dict[str, object] | None = None) -> bool:  # type: ignore[no-untyped-def]
    return any(
        c["method"] == method and c["path"] == path and all((c["body"] or {}).get(k) == v for k, v in (body or {}).items())
        for c in calls(shop)
    )


async def play(conv: Conversation, script: Script, task: str | None = None) -> None:
    for text, kind, words in script:
        ex = await conv.say(text)
        assert ex.reply is not None, f"{text!r} was not routed to the task bot (score {ex.score})"
        assert ex.reply.kind.value == kind, (text, ex.reply.text)
        for w in words:
            assert w in ex.reply.text, (text, ex.reply.text)
        if task:
            assert ex.reply.source.task == task
        assert not ex.reply.cacheable


@pytest.mark.parametrize("domain", sorted(HAPPY))
async def test_reply_happy_path_per_domain_calls_backend(conv: Conversation, shop, domain: str) -> None:  # type: ignore[no-untyped-def]
    script, (method, path, body) = HAPPY[domain]
    await play(conv, script, task=domain)
    assert called(shop, method, path, body)
    state = await conv.state()
    assert state.active_bot is None  # the task is done: the router is free again
    assert state.bots["task"]["stack"] == []


async def test_reply_side_effect_waits_for_confirmation(conv: Conversation, shop) -> None:  # type: ignore[no-untyped-def]
    await play(conv, [("帮我把订单取消", "task_prompt", []), ("2026110009", "task_prompt", ["请确认"])])
    assert not called(shop, "POST", "/api/orders/2026110009/cancel")
    state = await conv.state()
    assert state.active_bot == "task"
    ex = await conv.say("不是")
    assert ex.reply is not None and ex.reply.kind is ReplyKind.task_prompt
    assert not called(shop, "POST", "/api/orders/2026110009/cancel")


async def test_reply_interrupting_task_resumes_with_slots_kept(conv: Conversation, shop) -> None:  # type: ignore[no-untyped-def]
    await play(conv, [("我要退货", "task_prompt", []), ("2026110004", "task_prompt", ["原因"])])
    ex = await conv.say("对了，我的快递到哪了？")
    assert ex.reply is not None
    assert "运单号" in ex.reply.text and "原因" in ex.reply.text  # logistics answered, then back to the return
    assert ex.reply.source.task == "logistics"
    assert called(shop, "GET", "/api/logistics/2026110004")  # the order number carried over
    state = await conv.state()
    frames = state.bots["task"]["stack"]
    assert [f["domain"] for f in frames] == ["return_refund"]
    assert frames[0]["slots"]["order_id"]["value"] == "2026110004"
    await play(conv, [("屏幕碎了", "task_prompt", ["请确认", "2026110004", "屏幕碎了"]), ("确认", "answer", ["退货单号"])])
    assert called(shop, "POST", "/api/returns", {"order_id": "2026110004", "reason": "屏幕碎了"})


async def test_score_unrelated_question_leaves_task_open_and_resumes(conv: Conversation) -> None:
    await play(conv, [("我要退货", "task_prompt", []), ("2026110004", "task_prompt", ["原因"])])
    ex = await conv.say("你们周末几点下班？")
    assert ex.score.score < 0.3 and ex.reply is None  # the router gives this one to another bot
    state = await conv.state()
    assert state.active_bot == "task"
    ex = await conv.say("好的")  # nothing new: the bot picks the task up again
    assert ex.reply is not None and "继续" in ex.reply.text and "原因" in ex.reply.text
    await play(conv, [("质量问题", "task_prompt", ["请确认", "质量问题"])])


async def test_reply_correction_replaces_order_before_confirming(conv: Conversation, shop) -> None:  # type: ignore[no-untyped-def]
    await play(conv, [("我要取消订单", "task_prompt", []), ("2026110001", "task_prompt", ["2026110001"])])
    await play(conv, [("不对，是另一个订单 2026110009", "task_prompt", ["请确认", "2026110009"]), ("是", "answer", ["已取消"])])
    assert called(shop, "POST", "/api/orders/2026110009/cancel")
    assert not called(shop, "POST", "/api/orders/2026110001/cancel")
    state = await conv.state()
    assert state.bots["task"]["shared"]["order_id"]["value"] == "2026110009"


@pytest.mark.parametrize("words", ["算了", "never mind"])
async def test_reply_cancel_closes_task_without_backend_call(conv: Conversation, shop, words: str) -> None:  # type: ignore[no-untyped-def]
    await play(conv, [("我要改收货地址", "task_prompt", []), ("2026110001", "task_prompt", [])])
    ex = await conv.say(words)
    assert ex.reply is not None and ex.reply.kind is ReplyKind.answer and "取消" in ex.reply.text
    state = await conv.state()
    assert state.active_bot is None
    assert not [c for c in calls(shop) if c["method"] == "POST"]


async def test_reply_invalid_values_reprompt_with_reason(conv: Conversation, shop) -> None:  # type: ignore[no-untyped-def]
    await play(conv, [("我要开发票", "task_prompt", [])])
    await play(conv, [("12345", "task_prompt", ["不是有效的订单号"])])
    await play(conv, [("2026119999", "task_prompt", ["没有找到订单 2026119999"])])
    await play(conv, [("2026110002", "task_prompt", ["抬头"]), ("小智", "task_prompt", ["邮箱"])])
    await play(conv, [("not-an-email", "task_prompt", ["不是有效的邮箱地址"])])
    state = await conv.state()
    assert "email" not in state.bots["task"]["stack"][0]["slots"]


async def test_reply_three_failures_hand_off(conv: Conversation) -> None:
    await play(conv, [("我要开发票", "task_prompt", []), ("1234", "task_prompt", []), ("5678", "task_prompt", [])])
    ex = await conv.say("999")
    assert ex.reply is not None and ex.reply.kind is ReplyKind.handoff
    state = await conv.state()
    assert state.active_bot is None and state.bots["task"]["stack"] == []


async def test_reply_handoff_on_request(conv: Conversation) -> None:
    await play(conv, [("我要退货", "task_prompt", [])])
    ex = await conv.say("转人工")
    assert ex.reply is not None and ex.reply.kind is ReplyKind.handoff


async def test_reply_backend_timeout_offers_retry_then_succeeds(task_ctx, shop) -> None:  # type: ignore[no-untyped-def]
    # the tenant's own copy of the demo domains with a short timeout, so the test stays quick
    own = task_ctx.settings.data_dir / "tasks" / "demo"
    shutil.copytree(PACKAGED_DOMAINS / "demo", own)
    path = own / "logistics.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("timeout_s: 3", "timeout_s: 0.5"), encoding="utf-8")
    bot = TaskBot()
    await bot.load(task_ctx)
    try:
        conv = Conversation(task_ctx, bot, session_id="timeout")
        httpx.post(f"{shop.url}/api/_faults", json={"path_prefix": "/api/logistics", "delay_s": 2, "times": 2})
        ex = await conv.say("帮我查下物流，订单号2026110003")
        assert ex.reply is not None and ex.reply.kind is ReplyKind.task_prompt
        assert "没有响应" in ex.reply.text
        assert [s.text for s in ex.reply.suggestions] == ["重试", "转人工"]
        assert (await conv.state()).active_bot == "task"
        ex = await conv.say("重试")
        assert ex.reply is not None and ex.reply.kind is ReplyKind.answer and "运单号" in ex.reply.text
    finally:
        await bot.close()


async def test_reply_english_conversation(conv: Conversation, shop) -> None:  # type: ignore[no-untyped-def]
    conv.locale = "en"
    await play(conv, [("where is my package", "task_prompt", ["order number"]), ("2026110002", "answer", ["tracking number"])])


async def test_reply_trace_records_nlu_policy_and_action(conv: Conversation) -> None:
    ex = await conv.say("查一下订单 2026110002 的状态")
    steps = [e.step for e in ex.trace.events]  # type: ignore[union-attr]
    assert {"nlu", "dst.update", "policy", "action", "dst"} <= set(steps)
    nlu = next(e for e in ex.trace.events if e.step == "nlu")  # type: ignore[union-attr]
    assert nlu.data["intent"] == "query_order_status"


async def test_score_no_domains_for_tenant_is_zero(conv: Conversation) -> None:
    conv.tenant_id = "nobody"
    ex = await conv.say("我要退货")
    assert ex.score.score == 0.0 and ex.reply is None


async def test_score_uses_registered_nlu_model_over_rules(task_ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A model promoted for the tenant replaces the cold-start rules without a restart."""
    from csbot.models.registry import ModelRegistry
    from taskbot.nlu.rules import RuleIntentClassifier

    bot = TaskBot()
    await bot.load(task_ctx)
    try:
        conv = Conversation(task_ctx, bot, session_id="trained")
        ex = await conv.say("我想把东西寄回去")  # no rule pattern covers this wording
        assert ex.score.score < 0.3
        model = tmp_path / "nlu"
        RuleIntentClassifier({"request_return": ["寄回"]}).save(model)
        registry = ModelRegistry(task_ctx.settings, task_ctx.db)
        info = registry.register("demo", "nlu", model, metrics={"intent_f1": 0.9})
        registry.promote(info.id, actor="test", force=True)
        rt = await bot.runtime("demo")
        assert rt is not None
        rt.classifier_checked = 0.0  # do not wait for the periodic check
        ex = await conv.say("我想把东西寄回去")
        assert ex.score.score >= 0.5 and ex.reply is not None
        assert ex.reply.source.task == "return_refund"
        nlu = next(e for e in ex.trace.events if e.step == "nlu")  # type: ignore[union-attr]
        assert nlu.data["classifier"] == "trained"
    finally:
        await bot.close()


async def test_reply_order_number_alone_asks_which_task_and_keeps_it(conv: Conversation, shop) -> None:  # type: ignore[no-untyped-def]
    ex = await conv.say("2026110003")
    assert ex.reply is not None and ex.reply.kind is ReplyKind.suggestions
    assert "2026110003" in ex.reply.text
    assert "物流查询" in [s.text for s in ex.reply.suggestions]
    assert (await conv.state()).active_bot is None
    ex = await conv.say("物流查询")  # the chosen task uses the number given before
    assert ex.reply is not None and ex.reply.kind is ReplyKind.answer and "运单号" in ex.reply.text
    assert called(shop, "GET", "/api/logistics/2026110003")
