"""Deterministic seed data for the demo shop: 40 orders over 12 customers' phones.

The same seed always yields the same orders, so tests, docs and the other bots can rely on
e.g. order 2026110003 being shipped. Items and prices come from the product graph.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from csbot.demo.loader import load_triples

SEED = 20261101
FIRST_ORDER_ID = 2026110001
ORDER_COUNT = 40
MAX_TOTAL = 6999.0
CST = timezone(timedelta(hours=8))

#: one status per order, in order-id order: a spread a support bot meets every day
STATUSES: tuple[str, ...] = (
    "paid", "shipped", "shipped", "delivered", "pending_payment",
    "delivered", "cancelled", "shipped", "paid", "returned",
    "delivered", "pending_payment", "shipped", "paid", "delivered",
    "cancelled", "delivered", "shipped", "returned", "paid",
    "pending_payment", "delivered", "shipped", "delivered", "paid",
    "cancelled", "shipped", "delivered", "returned", "pending_payment",
    "paid", "shipped", "delivered", "delivered", "cancelled",
    "shipped", "paid", "pending_payment", "delivered", "returned",
)  # fmt: skip

#: fictional customers' addresses, one per phone
ADDRESSES: tuple[str, ...] = (
    "北京市朝阳区望京街道阜通东大街6号院3号楼1单元502",
    "上海市浦东新区张江镇碧波路690号2号楼1203",
    "广州市天河区天河北路233号中信广场东塔18楼",
    "深圳市南山区粤海街道科技园南区高新南七道12号",
    "杭州市西湖区文三路478号华星时代广场A座9楼",
    "成都市武侯区天府大道北段1700号新世纪环球中心E2区",
    "武汉市洪山区珞喻路1037号华中科技大学西十二舍",
    "南京市鼓楼区汉中门大街301号国际服务外包大厦7层",
    "西安市雁塔区科技路48号创业广场B座1608",
    "重庆市渝北区金开大道西段106号互联网产业园12栋",
    "苏州市工业园区星湖街328号创意产业园16幢",
    "天津市南开区卫津路94号南开大学东门对面小区5号楼",
)

#: carriers and how their tracking numbers look
CARRIERS: tuple[tuple[str, str], ...] = (("顺丰", "SF"), ("中通", "ZT"), ("京东物流", "JDVA"))

#: orders whose contents are fixed so that the total range (19 to 6999 yuan) is always covered
FIXED_ITEMS: dict[int, list[tuple[str, int]]] = {
    1: [("小智 X1 手机", 1), ("小智 X1 手机 硅胶保护壳", 1)],
    2: [("小智 Buds Pro 降噪耳机", 1)],
    3: [("小智 屏幕清洁套装", 1)],
    4: [("小智 Z Fold 折叠屏手机", 1)],
    5: [("小智 USB-C 数据线 1米", 2)],
    6: [("小智 Book 16 Pro 笔记本电脑", 1)],
}


@dataclass
class SeedItem:
    sku: str
    name: str
    qty: int
    price: float


@dataclass
class SeedOrder:
    order_id: str
    status: str
    items: list[SeedItem]
    phone: str
    address: str
    created_at: str
    tracking_no: str | None = None
    carrier: str | None = None
    total: float = field(init=False)

    def __post_init__(self) -> None:
        self.total = round(sum(item.price * item.qty for item in self.items), 2)


def catalog() -> dict[str, tuple[str, float]]:
    """Product name -> (sku, price in yuan), from the product graph."""
    sku: dict[str, str] = {}
    price: dict[str, float] = {}
    for triple in load_triples():
        if triple.relation == "SKU":
            sku[triple.subject] = triple.object
        elif triple.relation == "价格":
            price[triple.subject] = float(triple.object.removesuffix("元"))
    return {name: (sku[name], price[name]) for name in sku if name in price}


def phone_for(index: int) -> str:
    """Phones 13800138001..13800138012; each customer owns three or four orders."""
    return f"138001380{index % len(ADDRESSES) + 1:02d}"


def seed_orders() -> list[SeedOrder]:
    rng = random.Random(SEED)
    products = catalog()
    names = sorted(products)
    start = datetime(2026, 11, 1, 9, 0, tzinfo=CST)
    orders: list[SeedOrder] = []
    for index in range(ORDER_COUNT):
        number = index + 1
        wanted = FIXED_ITEMS.get(number)
        while wanted is None or sum(products[name][1] * qty for name, qty in wanted) > MAX_TOTAL:
            picks = rng.sample(names, rng.choice((1, 1, 2, 3)))
            wanted = [(name, rng.choice((1, 1, 1, 2))) for name in picks]
        items = [SeedItem(products[name][0], name, qty, products[name][1]) for name, qty in wanted]
        status = STATUSES[index]
        created = start + timedelta(hours=7 * index, minutes=rng.randrange(60))
        order = SeedOrder(
            order_id=str(FIRST_ORDER_ID + index),
            status=status,
            items=items,
            phone=phone_for(index),
            address=ADDRESSES[index % len(ADDRESSES)],
            created_at=created.isoformat(timespec="seconds"),
        )
        if status in ("shipped", "delivered", "returned"):
            carrier, prefix = CARRIERS[index % len(CARRIERS)]
            order.carrier = carrier
            order.tracking_no = f"{prefix}{rng.randrange(10**11, 10**12)}"
        orders.append(order)
    return orders


def logistics_events(order_id: str, status: str, created_at: str, address: str) -> list[dict[str, str]]:
    """Tracking events for a shipped order, oldest first, derived from the order itself."""
    created = datetime.fromisoformat(created_at)
    city = address[: address.index("市") + 1] if "市" in address else address[:3]
    hubs = ("东莞", "武汉", "郑州", "杭州", "成都")
    hub = hubs[int(order_id) % len(hubs)] + "转运中心"
    steps = [
        (18, "深圳市", "快递员已揽收，包裹已从小智商城深圳仓发出"),
        (26, hub, f"已到达【{hub}】，正在分拣"),
        (40, city, f"已到达【{city}分拨中心】"),
    ]
    if status in ("delivered", "returned"):
        steps += [
            (50, city, "派送中，快递员正在为您派件，请保持电话畅通"),
            (54, city, "已签收，签收人：本人。感谢您使用小智商城"),
        ]
    return [
        {"time": (created + timedelta(hours=h)).isoformat(timespec="seconds"), "location": loc, "desc": desc}
        for h, loc, desc in steps
    ]
