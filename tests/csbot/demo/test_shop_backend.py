"""The demo shop backend, run as its own process and called over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from csbot.demo.pytest_shop import shop, shop_server  # noqa: F401
from csbot.demo.shop_process import ShopProcess, free_port, start_shop

ORDER_IDS = [str(n) for n in range(2026110001, 2026110041)]
STATUSES = {"pending_payment", "paid", "shipped", "delivered", "cancelled", "returned"}


def _orders(shop: ShopProcess) -> list[dict]:
    return [httpx.get(f"{shop.url}/api/orders/{oid}").json() for oid in ORDER_IDS]


def _first(shop: ShopProcess, status: str) -> str:
    return next(o["order_id"] for o in _orders(shop) if o["status"] == status)


def test_seed_covers_the_contract(shop: ShopProcess) -> None:
    orders = _orders(shop)
    assert [o["order_id"] for o in orders] == ORDER_IDS
    assert {o["status"] for o in orders} == STATUSES
    totals = [o["total"] for o in orders]
    assert min(totals) == 19 and max(totals) == 6999
    assert sum(t > 500 for t in totals) >= 10
    for order in orders:
        assert order["total"] == pytest.approx(sum(i["price"] * i["qty"] for i in order["items"]))
        assert order["phone"].startswith("138001380") and len(order["phone"]) == 11
        assert "市" in order["address"]
        shipped = order["status"] in {"shipped", "delivered", "returned"}
        assert (order["tracking_no"] is not None) == shipped
        assert (order["carrier"] in {"顺丰", "中通", "京东物流"}) == shipped


def test_get_order_unknown_is_404(shop: ShopProcess) -> None:
    response = httpx.get(f"{shop.url}/api/orders/2026119999")
    assert response.status_code == 404
    assert response.json() == {"detail": "order not found"}


def test_orders_by_phone_returns_every_order_of_that_customer(shop: ShopProcess) -> None:
    phone = httpx.get(f"{shop.url}/api/orders/2026110001").json()["phone"]
    orders = httpx.get(f"{shop.url}/api/orders", params={"phone": phone}).json()["orders"]
    assert len(orders) >= 3
    assert all(o["phone"] == phone for o in orders)
    assert "2026110001" in {o["order_id"] for o in orders}
    assert httpx.get(f"{shop.url}/api/orders", params={"phone": "13900000000"}).json() == {"orders": []}


def test_logistics_for_shipped_and_unshipped_orders(shop: ShopProcess) -> None:
    shipped = _first(shop, "shipped")
    body = httpx.get(f"{shop.url}/api/logistics/{shipped}").json()
    order = httpx.get(f"{shop.url}/api/orders/{shipped}").json()
    assert body["tracking_no"] == order["tracking_no"] and body["carrier"] == order["carrier"]
    assert body["status"] == "in_transit"
    assert body["events"] and all({"time", "location", "desc"} <= e.keys() for e in body["events"])
    delivered = httpx.get(f"{shop.url}/api/logistics/{_first(shop, 'delivered')}").json()
    assert delivered["status"] == "delivered" and "签收" in delivered["events"][-1]["desc"]
    response = httpx.get(f"{shop.url}/api/logistics/{_first(shop, 'paid')}")
    assert response.status_code == 404 and response.json() == {"detail": "not shipped"}


def test_cancel_paid_order_then_again_conflicts(shop: ShopProcess) -> None:
    oid = _first(shop, "paid")
    response = httpx.post(f"{shop.url}/api/orders/{oid}/cancel")
    assert response.json() == {"ok": True, "order_id": oid, "status": "cancelled"}
    assert httpx.get(f"{shop.url}/api/orders/{oid}").json()["status"] == "cancelled"
    assert httpx.post(f"{shop.url}/api/orders/{oid}/cancel").status_code == 409


@pytest.mark.parametrize("status", ["shipped", "delivered", "cancelled"])
def test_cancel_conflicts_after_shipping_or_cancel(shop: ShopProcess, status: str) -> None:
    oid = _first(shop, status)
    response = httpx.post(f"{shop.url}/api/orders/{oid}/cancel")
    assert response.status_code == 409 and response.json()["detail"]
    assert httpx.get(f"{shop.url}/api/orders/{oid}").json()["status"] == status


def test_change_address_rules(shop: ShopProcess) -> None:
    oid = _first(shop, "pending_payment")
    new = "上海市徐汇区漕溪北路88号"
    response = httpx.post(f"{shop.url}/api/orders/{oid}/address", json={"address": new})
    assert response.json() == {"ok": True, "order_id": oid, "address": new}
    assert httpx.get(f"{shop.url}/api/orders/{oid}").json()["address"] == new
    assert httpx.post(f"{shop.url}/api/orders/{oid}/address", json={"address": "北京"}).status_code == 422
    shipped = _first(shop, "shipped")
    assert httpx.post(f"{shop.url}/api/orders/{shipped}/address", json={"address": new}).status_code == 409


def test_return_allowed_only_after_shipping(shop: ShopProcess) -> None:
    delivered = httpx.get(f"{shop.url}/api/orders/{_first(shop, 'delivered')}").json()
    body = httpx.post(f"{shop.url}/api/returns", json={"order_id": delivered["order_id"], "reason": "不想要了"}).json()
    assert body["return_id"].startswith("R") and body["status"] == "requested"
    assert body["order_id"] == delivered["order_id"] and body["refund_amount"] == delivered["total"]
    again = httpx.post(f"{shop.url}/api/returns", json={"order_id": delivered["order_id"], "reason": "x"})
    assert again.status_code == 409
    shipped = _first(shop, "shipped")
    partial = httpx.post(f"{shop.url}/api/returns", json={"order_id": shipped, "reason": "少件", "amount": 10})
    assert partial.json()["refund_amount"] == 10
    for status in ("paid", "pending_payment", "cancelled"):
        response = httpx.post(f"{shop.url}/api/returns", json={"order_id": _first(shop, status), "reason": "x"})
        assert response.status_code == 409


def test_invoice_issued_and_bad_email_rejected(shop: ShopProcess) -> None:
    oid = _first(shop, "delivered")
    body = {"order_id": oid, "title": "示例科技有限公司", "tax_id": "91310000MA1FL0000X", "email": "a@example.com"}
    issued = httpx.post(f"{shop.url}/api/invoices", json=body).json()
    assert issued["invoice_id"].startswith("I") and issued == {**issued, "order_id": oid, "status": "issued"}
    bad = httpx.post(f"{shop.url}/api/invoices", json={**body, "email": "not-an-email"})
    assert bad.status_code == 422
    missing = httpx.post(f"{shop.url}/api/invoices", json={**body, "order_id": "2026119999"})
    assert missing.status_code == 404


def test_calls_are_recorded_in_order_and_cleared(shop: ShopProcess) -> None:
    httpx.get(f"{shop.url}/api/orders/2026110002")
    httpx.post(f"{shop.url}/api/orders/2026110001/address", json={"address": "杭州市滨江区江南大道100号"})
    httpx.get(f"{shop.url}/api/orders", params={"phone": "13800138001"})
    calls = httpx.get(f"{shop.url}/api/_calls").json()["calls"]
    assert [(c["method"], c["path"]) for c in calls] == [
        ("GET", "/api/orders/2026110002"),
        ("POST", "/api/orders/2026110001/address"),
        ("GET", "/api/orders"),
    ]
    assert calls[1]["body"] == {"address": "杭州市滨江区江南大道100号"}
    assert calls[2]["query"] == {"phone": "13800138001"}
    assert calls[0]["at"] <= calls[1]["at"] <= calls[2]["at"]
    httpx.delete(f"{shop.url}/api/_calls")
    assert httpx.get(f"{shop.url}/api/_calls").json() == {"calls": []}


def test_fault_makes_next_matching_calls_slow_then_clears(shop: ShopProcess) -> None:
    oid = _first(shop, "shipped")
    httpx.post(f"{shop.url}/api/_faults", json={"path_prefix": "/api/logistics", "delay_s": 1.5, "times": 1})
    start = time.monotonic()
    assert httpx.get(f"{shop.url}/api/orders/{oid}").status_code == 200  # other path: not delayed
    assert time.monotonic() - start < 1.0
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{shop.url}/api/logistics/{oid}", timeout=0.5)
    start = time.monotonic()
    assert httpx.get(f"{shop.url}/api/logistics/{oid}").status_code == 200
    assert time.monotonic() - start < 1.0


def test_fault_status_fails_n_calls(shop: ShopProcess) -> None:
    httpx.post(f"{shop.url}/api/_faults", json={"path_prefix": "/api/orders", "status": 500, "times": 2})
    codes = [httpx.get(f"{shop.url}/api/orders/2026110001").status_code for _ in range(3)]
    assert codes == [500, 500, 200]


def test_reset_reseeds_changes(shop: ShopProcess) -> None:
    oid = _first(shop, "paid")
    httpx.post(f"{shop.url}/api/orders/{oid}/cancel")
    httpx.post(f"{shop.url}/api/_reset")
    assert httpx.get(f"{shop.url}/api/orders/{oid}").json()["status"] == "paid"
    assert httpx.get(f"{shop.url}/api/_calls").json() == {"calls": []}


def test_db_file_persists_changes_across_restart(tmp_path) -> None:
    db = tmp_path / "shop.db"
    with start_shop(free_port(), db) as first:
        httpx.post(f"{first.url}/api/orders/2026110001/cancel").raise_for_status()
    assert not first.alive()
    with start_shop(free_port(), db) as second:
        assert httpx.get(f"{second.url}/api/orders/2026110001").json()["status"] == "cancelled"
        assert httpx.get(f"{second.url}/healthz").json() == {"status": "ok"}


def test_start_shop_reports_a_process_that_cannot_start(tmp_path) -> None:
    port = free_port()
    with start_shop(port, tmp_path / "a.db"):
        with pytest.raises(RuntimeError, match="exited"):
            start_shop(port, tmp_path / "b.db")
