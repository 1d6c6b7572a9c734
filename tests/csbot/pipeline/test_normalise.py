import pytest

from csbot.pipeline.normalise import normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("請問運費多少錢？", "请问运费多少钱?"),
        ("ＡＢＣ１２３", "abc123"),
        ("  退   货  ", "退货"),
        ("我要退货！！！！", "我要退货!"),
        ("Where is my ORDER???", "where is my order?"),
        ("好的😀👍谢谢", "好的谢谢"),
        ("发\t票\n怎么开", "发票怎么开"),
    ],
)
def test_normalise_cases(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize("raw", ["請問運費多少錢？？", "ＨＥＬＬＯ  world!!", "😀😀", "退 货 流 程"])
def test_normalise_is_idempotent(raw: str) -> None:
    once = normalise(raw)
    assert normalise(once) == once
