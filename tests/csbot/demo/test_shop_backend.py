"""The demo shop backend, run as its own process and called over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from csbot.demo.shop_process import ShopProcess, free_port, start_shop

ORDER_IDS = [str(n) for n in range(2026110001, 2026110041)]
STATUSES = {"pending_payment", "paid", "shipped", "delivered", "cancelled", "returned"}
NEW_ADDRESS = "上海市徐汇区漕溪北路88号"


@pytest.fixture
def api(shop: ShopProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shop.url, timeout=10.0) as client:
        yield client


def _orders(api: httpx.Client) -> list[dict]:
    return [api.get(f"/api/orders/{oid}").json() for oid in ORDER_IDS]


def _first(api: httpx.Client, status: str) -> dict:
    return next(o for o in _orders(api) if o["status"] == status)


def test_seed_covers_the_contract(api: httpx.Client) -> None:
    orders = _orders(api)
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


def test_get_order_unknown_is_404(api: httpx.Client) -> None:
    response = api.get("/api/orders/2026119999")
    assert response.status_code == 404
    assert response.json() == {"detail": "order not found"}


def test_orders_by_phone_returns_every_order_of_that_customer(api: httpx.Client) -> None:
    phone = api.get("/api/orders/2026110001").json()["phone"]
    orders = api.get("/api/orders", params={"phone": phone}).json()["orders"]
    assert len(orders) >= 3
    assert all(o["phone"] == phone for o in orders)
    assert "2026110001" in {o["order_id"] for o in orders}
    assert api.get("/api/orders", params={"phone": "13900000000"}).json() == {"orders": []}


def test_logistics_for_shipped_and_unshipped_orders(api: httpx.Client) -> None:
    order = _first(api, "shipped")
    body = api.get(f"/api/logistics/{order['order_id']}").json()
    assert body["tracking_no"] == order["tracking_no"] and body["carrier"] == order["carrier"]
    assert body["status"] == "in_transit"
    assert body["events"] and all({"time", "location", "desc"} <= e.keys() for e in body["events"])
    delivered = api.get(f"/api/logistics/{_first(api, 'delivered')['order_id']}").json()
    assert delivered["status"] == "delivered" and "签收" in delivered["events"][-1]["desc"]
    response = api.get(f"/api/logistics/{_first(api, 'paid')['order_id']}")
    assert response.status_code == 404 and response.json() == {"detail": "not shipped"}


def test_cancel_paid_order_then_again_conflicts(api: httpx.Client) -> None:
    oid = _first(api, "paid")["order_id"]
    response = api.post(f"/api/orders/{oid}/cancel")
    assert response.json() == {"ok": True, "order_id": oid, "status": "cancelled"}
    assert api.get(f"/api/orders/{oid}").json()["status"] == "cancelled"
    assert api.post(f"/api/orders/{oid}/cancel").status_code == 409


@pytest.mark.parametrize("status", ["shipped", "delivered", "cancelled"])
def test_cancel_conflicts_after_shipping_or_cancel(api: httpx.Client, status: str) -> None:
    oid = _first(api, status)["order_id"]
    response = api.post(f"/api/orders/{oid}/cancel")
    assert response.status_code == 409 and response.json()["detail"]
    assert api.get(f"/api/orders/{oid}").json()["status"] == status


def test_change_address_before_shipping(api: httpx.Client) -> None:
    oid = _first(api, "pending_payment")["order_id"]
    response = api.post(f"/api/orders/{oid}/address", json={"address": NEW_ADDRESS})
    assert response.json() == {"ok": True, "order_id": oid, "address": NEW_ADDRESS}
    assert api.get(f"/api/orders/{oid}").json()["address"] == NEW_ADDRESS


def test_change_address_refused_when_too_short_or_shipped(api: httpx.Client) -> None:
    oid = _first(api, "paid")["order_id"]
    assert api.post(f"/api/orders/{oid}/address", json={"address": "北京"}).status_code == 422
    shipped = _first(api, "shipped")
    response = api.post(f"/api/orders/{shipped['order_id']}/address", json={"address": NEW_ADDRESS})
    assert response.status_code == 409
    assert api.get(f"/api/orders/{shipped['order_id']}").json()["address"] == shipped["address"]


def test_return_of_delivered_order_refunds_total_once(api: httpx.Client) -> None:
    order = _first(api, "delivered")
    body = api.post("/api/returns", json={"order_id": order["order_id"], "reason": "不想要了"}).json()
    assert body["return_id"].startswith("R") and body["status"] == "requested"
    assert body["order_id"] == order["order_id"] and body["refund_amount"] == order["total"]
    again = api.post("/api/returns", json={"order_id": order["order_id"], "reason": "x"})
    assert again.status_code == 409


def test_return_partial_amount_of_shipped_order(api: httpx.Client) -> None:
    oid = _first(api, "shipped")["order_id"]
    partial = api.post("/api/returns", json={"order_id": oid, "reason": "少件", "amount": 10})
    assert partial.json()["refund_amount"] == 10


@pytest.mark.parametrize("status", ["paid", "pending_payment", "cancelled"])
def test_return_refused_before_shipping(api: httpx.Client, status: str) -> None:
    response = api.post("/api/returns", json={"order_id": _first(api, status)["order_id"], "reason": "x"})
    assert response.status_code == 409


def test_invoice_issued_and_bad_email_rejected(api: httpx.Client) -> None:
    oid = _first(api, "delivered")["order_id"]
    body = {
        "order_id": oid,
        "title": "示例科技有限公司",
        "tax_id": "91310000MA1FL0000X",
        "email": "a@example.com",
    }
    issued = api.post("/api/invoices", json=body).json()
    assert issued["invoice_id"].startswith("I")
    assert (issued["order_id"], issued["status"]) == (oid, "issued")
    assert api.post("/api/invoices", json={**body, "email": "not-an-email"}).status_code == 422
    assert api.post("/api/invoices", json={**body, "order_id": "2026119999"}).status_code == 404


def test_calls_are_recorded_in_order_and_cleared(api: httpx.Client) -> None:
    api.get("/api/orders/2026110002")
    api.post("/api/orders/2026110001/address", json={"address": "杭州市滨江区江南大道100号"})
    api.get("/api/orders", params={"phone": "13800138001"})
    calls = api.get("/api/_calls").json()["calls"]
    assert [(c["method"], c["path"]) for c in calls] == [
        ("GET", "/api/orders/2026110002"),
        ("POST", "/api/orders/2026110001/address"),
        ("GET", "/api/orders"),
    ]
    assert calls[1]["body"] == {"address": "杭州市滨江区江南大道100号"}
    assert calls[2]["query"] == {"phone": "13800138001"}
    assert calls[0]["at"] <= calls[1]["at"] <= calls[2]["at"]
    api.delete("/api/_calls")
    assert api.get("/api/_calls").json() == {"calls": []}


def test_fault_delays_next_matching_call_only(api: httpx.Client) -> None:
    oid = _first(api, "shipped")["order_id"]
    api.post("/api/_faults", json={"path_prefix": "/api/logistics", "delay_s": 1.5, "times": 1})
    start = time.monotonic()
    assert api.get(f"/api/orders/{oid}").status_code == 200  # another path: not delayed
    assert time.monotonic() - start < 1.0
    with pytest.raises(httpx.ReadTimeout):
        api.get(f"/api/logistics/{oid}", timeout=0.5)
    start = time.monotonic()
    assert api.get(f"/api/logistics/{oid}").status_code == 200
    assert time.monotonic() - start < 1.0


def test_fault_status_fails_n_calls(api: httpx.Client) -> None:
    api.post("/api/_faults", json={"path_prefix": "/api/orders", "status": 500, "times": 2})
    codes = [api.get("/api/orders/2026110001").status_code for _ in range(3)]
    assert codes == [500, 500, 200]


def test_reset_reseeds_changes_and_forgets_calls(api: httpx.Client) -> None:
    oid = _first(api, "paid")["order_id"]
    api.post(f"/api/orders/{oid}/cancel")
    api.post("/api/_faults", json={"path_prefix": "/api/orders", "status": 500, "times": 5})
    api.post("/api/_reset")
    assert api.get("/api/_calls").json() == {"calls": []}
    assert api.get(f"/api/orders/{oid}").json()["status"] == "paid"


def test_db_file_persists_changes_across_restart(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with start_shop(free_port(), db) as first:
        httpx.post(f"{first.url}/api/orders/2026110001/cancel").raise_for_status()
    assert not first.alive()
    with start_shop(free_port(), db) as second:
        assert httpx.get(f"{second.url}/api/orders/2026110001").json()["status"] == "cancelled"


def test_start_shop_refuses_a_port_already_served(tmp_path: Path) -> None:
    port = free_port()
    with start_shop(port, tmp_path / "a.db"):
        with pytest.raises(RuntimeError, match="exited"):
            start_shop(port, tmp_path / "b.db")
