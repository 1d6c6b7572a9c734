"""Slot values by type, with the positions the bot highlights and the overlaps it must settle."""

from __future__ import annotations

from datetime import datetime

import pytest

from taskbot.nlu.slots import SlotSpec, extract_slots

NOW = datetime(2026, 11, 25, 15, 30)


def one(text: str, slot_type: str, **kw: object) -> list[str]:
    spec = [SlotSpec(name="x", type=slot_type, **kw)]  # type: ignore[arg-type]
    return [v.value for v in extract_slots(text, "zh", spec, now=NOW)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("订单号2026110001", ["2026110001"]),
        ("订单号：2026110001 还没到", ["2026110001"]),
        ("我的订单是2026110001", ["2026110001"]),
        ("order #2026110001", ["2026110001"]),
        ("my order number is 2026110001.", ["2026110001"]),
        ("2026110001这个单什么时候发货", ["2026110001"]),
        ("单号SO20261100017", ["SO20261100017"]),
        ("订单号123", []),  # too short to be an order number
        ("13812345678", []),  # shaped like a mobile number
        ("订单号13812345678", ["13812345678"]),  # ... unless introduced as an order number
    ],
)
def test_extract_order_id(text: str, expected: list[str]) -> None:
    assert one(text, "order_id") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的手机13812345678", ["13812345678"]),
        ("电话 138-1234-5678", ["13812345678"]),
        ("+86 138 1234 5678", ["13812345678"]),
        ("座机010-12345678", ["010-12345678"]),
        ("12345678901", []),  # starts with 12: no mobile prefix
        ("2026110001", []),
    ],
)
def test_extract_phone(text: str, expected: list[str]) -> None:
    assert one(text, "phone") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("邮箱zhang.san@example.com谢谢", ["zhang.san@example.com"]),
        ("mail me at Bob+shop@Mail.Example.org.", ["bob+shop@mail.example.org"]),
        ("no at sign here", []),
    ],
)
def test_extract_email(text: str, expected: list[str]) -> None:
    assert one(text, "email") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("退500元", ["500"]),
        ("五百块", ["500"]),
        ("一千二百九十九元", ["1299"]),
        ("¥1,299.00", ["1299"]),
        ("￥88.5", ["88.5"]),
        ("$20", ["20"]),
        ("it cost 20 dollars", ["20"]),
        ("三百二十块五", ["320.5"]),
        ("两千块钱", ["2000"]),
        ("买了3件", []),
    ],
)
def test_extract_amount(text: str, expected: list[str]) -> None:
    assert one(text, "amount") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("帮我改到上海市浦东新区张江路100号，谢谢", "上海市浦东新区张江路100号"),
        ("寄到杭州西湖区文三路", "浙江省杭州市西湖区文三路"),
        ("新地址广东省深圳市南山区科技园南路8号", "广东省深圳市南山区科技园南路8号"),
        ("北京朝阳区建国路88号", "北京市朝阳区建国路88号"),
    ],
)
def test_extract_chinese_address(text: str, expected: str) -> None:
    assert one(text, "address") == [expected]


@pytest.mark.parametrize("text", ["我想看看北京的天气", "上海好玩吗", "我要退货"])
def test_extract_address_ignores_bare_place_names(text: str) -> None:
    assert one(text, "address") == []


def test_extract_english_address() -> None:
    assert one("ship to 221 Baker Street, London please", "address") == ["221 Baker Street, London"]


def test_extract_product_maps_aliases_to_catalogue_name() -> None:
    lexicon = {"iPhone 15": ["苹果15", "iphone15"], "AirPods Pro": ["airpods"]}
    spec = [SlotSpec(name="product", type="product")]
    values = extract_slots("我买的苹果15和airpods都坏了", "zh", spec, lexicon=lexicon)
    assert [(v.value, v.raw) for v in values] == [("iPhone 15", "苹果15"), ("AirPods Pro", "airpods")]


def test_extract_product_needs_whole_latin_words() -> None:
    spec = [SlotSpec(name="product", type="product")]
    assert extract_slots("this is a problem", "en", spec, lexicon={"Pro": []}) == []


def test_extract_enum_maps_synonyms() -> None:
    spec = [SlotSpec(name="reason", type="enum", values=["damaged|坏了|破损|broken", "wrong_item|发错了|wrong item"])]
    assert [v.value for v in extract_slots("收到的杯子坏了", "zh", spec)] == ["damaged"]
    assert [v.value for v in extract_slots("you sent the wrong item", "en", spec)] == ["wrong_item"]


@pytest.mark.parametrize(("text", "expected"), [("买了3件", ["3"]), ("要两个", ["2"]), ("一下就好", [])])
def test_extract_number(text: str, expected: list[str]) -> None:
    assert one(text, "number") == expected


def test_extract_custom_pattern_uses_first_group() -> None:
    spec = [SlotSpec(name="coupon", type="text", pattern=r"优惠券\s*([A-Z0-9]{6})")]
    values = extract_slots("用优惠券 AB12CD 下单", "zh", spec)
    assert [(v.value, v.extractor) for v in values] == [("AB12CD", "pattern")]


def test_extract_bad_custom_pattern_is_skipped_not_raised() -> None:
    spec = [SlotSpec(name="bad", type="text", pattern="(unclosed"), SlotSpec(name="phone", type="phone")]
    assert [v.name for v in extract_slots("13812345678", "zh", spec)] == ["phone"]


def test_extract_free_text_slot_finds_nothing_by_itself() -> None:
    assert one("随便说点什么", "text") == []


def test_extract_slots_settles_overlaps_and_keeps_text_order() -> None:
    spec = [
        SlotSpec(name="phone", type="phone"),
        SlotSpec(name="order_id", type="order_id"),
        SlotSpec(name="amount", type="amount"),
        SlotSpec(name="quantity", type="number"),
        SlotSpec(name="date", type="date"),
    ]
    text = "订单号2026110001昨天买的，五百块，电话13812345678"
    values = extract_slots(text, "zh", spec, now=NOW)
    assert [(v.name, v.value) for v in values] == [
        ("order_id", "2026110001"),
        ("date", "2026-11-24"),
        ("amount", "500"),
        ("phone", "13812345678"),
    ]
    for v in values:
        assert text[v.start : v.end] == v.raw
