from __future__ import annotations

import pytest

from chatbot.patterns import PatternSpec, compile_specs, merge_specs, shipped_specs


@pytest.mark.parametrize(
    ("text", "lang", "name"),
    [
        ("你好", "zh", "greeting"),
        ("您好！", "zh", "greeting"),
        ("谢谢你", "zh", "thanks"),
        ("拜拜", "zh", "goodbye"),
        ("你是谁", "zh", "identity"),
        ("hello there", "en", "greeting"),
        ("thank you so much", "en", "thanks"),
        ("who are you?", "en", "identity"),
    ],
)
def test_match_small_talk_covers_whole_message(text: str, lang: str, name: str) -> None:
    match = compile_specs(shipped_specs()).match(text, lang)
    assert match is not None and match.name == name
    assert match.coverage >= 0.6


@pytest.mark.parametrize("text", ["你好，我想退货，订单号是12345", "hello, where is my parcel ordered last week?"])
def test_match_greeting_inside_request_is_not_an_answer(text: str) -> None:
    match = compile_specs(shipped_specs()).match(text, "zh" if "你" in text else "en")
    assert match is None or match.coverage < 0.6


def test_tenant_rule_overrides_and_disables_shipped_rules() -> None:
    tenant = [
        PatternSpec(name="greeting", lang="zh", patterns=["^你好$"], replies=["欢迎光临小熊商城！"]),
        PatternSpec(name="thanks", lang="zh", enabled=False),
        PatternSpec(name="store_hours", lang="zh", keywords=["几点开门"], replies=["我们每天9点开门。"]),
    ]
    rules = compile_specs(merge_specs(shipped_specs(), tenant))
    greeting = rules.match("你好", "zh")
    assert greeting is not None and greeting.reply(0, "x") == "欢迎光临小熊商城！"
    assert rules.match("谢谢", "zh") is None
    hours = rules.match("几点开门", "zh")
    assert hours is not None and hours.name == "store_hours"


def test_compile_skips_rule_with_bad_regex() -> None:
    rules = compile_specs([
        PatternSpec(name="broken", lang="en", patterns=["(unclosed"], replies=["x"]),
        PatternSpec(name="ok", lang="en", patterns=["^ping$"], replies=["pong"]),
    ])
    assert [r.name for r in rules.rules] == ["ok"]


def test_reply_fills_bot_name_and_rotates_variants() -> None:
    rules = compile_specs([PatternSpec(name="hi", lang="en", patterns=["^hi$"], replies=["I am {bot_name}.", "Hi!"])])
    match = rules.match("hi", "en")
    assert match is not None
    assert match.reply(0, "Sam") == "I am Sam."
    assert match.reply(1, "Sam") == "Hi!"


def test_reply_fills_the_tenant_shop_name() -> None:
    rules = compile_specs([PatternSpec(name="hi", lang="zh", patterns=["^你好$"], replies=["欢迎来到{shop_name}"])])
    match = rules.match("你好", "zh")
    assert match is not None
    assert match.reply(0, "小智", "小智商城") == "欢迎来到小智商城"
