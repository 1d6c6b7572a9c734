"""Small intent data (the demo shop's intents, zh and en) and a tiny random encoder for fast tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from csbot.models.embedder import Embedder
from csbot.models.tiny import build_tiny_encoder
from taskbot.nlu.types import IntentExample

_TRAIN = {
    "order_status": [
        "我的订单什么状态", "查一下我的订单", "帮我查订单", "订单状态查询", "我想看看订单详情", "订单到哪一步了",
        "what is the status of my order", "check my order", "order status please", "show me my order details",
    ],
    "logistics": [
        "快递到哪了", "物流信息查一下", "包裹什么时候到", "我的快递怎么还没到", "查物流", "发货了吗快递单号多少",
        "where is my package", "track my parcel", "when will my delivery arrive", "has my package shipped",
    ],
    "return_refund": [
        "我要退货", "申请退款", "东西坏了想退", "怎么退货退款", "不想要了能退吗", "退款什么时候到账",
        "i want to return this", "how do i get a refund", "refund my money", "return the broken item",
    ],
    "invoice": [
        "开发票", "我要开个发票", "发票怎么开", "能开增值税发票吗", "帮我开电子发票", "发票抬头怎么填",
        "i need an invoice", "send me the invoice", "can you issue a receipt", "invoice for my purchase",
    ],
    "oos": [
        "今天天气怎么样", "给我讲个笑话", "你叫什么名字", "推荐一部电影", "怎么做红烧肉", "北京有什么好玩的",
        "tell me a joke", "what is the weather like", "who won the game", "recommend a movie",
    ],
}

#: paraphrases not in the training data, sharing its keywords
HELD_OUT = [
    ("帮我查查订单状态", "order_status"),
    ("快递到哪里了", "logistics"),
    ("我想退货", "return_refund"),
    ("发票能开吗", "invoice"),
    ("please check the status of my order", "order_status"),
    ("where is my parcel", "logistics"),
    ("i want a refund", "return_refund"),
    ("please send an invoice", "invoice"),
]


@pytest.fixture
def shop_examples() -> list[IntentExample]:
    return [IntentExample(text=t, intent=i) for i, texts in _TRAIN.items() for t in texts]


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="session")
def tiny_encoder(tiny_encoder_dir: Path) -> Embedder:
    embedder = Embedder(tiny_encoder_dir)
    embedder.load()
    return embedder
