import pytest

from csbot.pipeline.pii import mask_pii


@pytest.mark.parametrize(
    ("raw", "kinds", "must_not_contain"),
    [
        ("我的手机是13800138000", ["phone"], "13800138000"),
        ("call +86 139 1234 5678 please", ["phone"], "1234 5678"),
        ("身份证号110101199003071234", ["id_card"], "199003071234"),
        ("卡号4111111111111111", ["bank_card"], "4111111111111111"),
        ("邮箱 zhang.san@example.com 谢谢", ["email"], "zhang.san@"),
    ],
)
def test_mask_pii_masks_each_kind(raw: str, kinds: list[str], must_not_contain: str) -> None:
    masked, found = mask_pii(raw)
    assert found == kinds
    assert must_not_contain not in masked


@pytest.mark.parametrize("raw", ["订单号2026110001到哪了", "价格是1299元", "卡号4111111111111112"])
def test_mask_pii_leaves_order_numbers_and_invalid_cards(raw: str) -> None:
    assert mask_pii(raw) == (raw, [])
