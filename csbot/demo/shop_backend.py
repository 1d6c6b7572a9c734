"""The demo shop's business system: orders, logistics, returns and invoices over HTTP.

TaskBot calls it like any outside system; tests use its hooks (`/api/_calls`, `/api/_faults`,
`/api/_reset`) to see what the bot did and to make calls slow or failing. Run it as its own
process: `python -m csbot.demo.shop_backend --port 8100 --db var/shop.db`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from csbot.demo.shop_seed import logistics_events
from csbot.demo.shop_store import ShopStore

log = logging.getLogger(__name__)

#: statuses after which the parcel has left the warehouse
SHIPPED_STATES = frozenset({"shipped", "delivered", "returned"})
RETURNABLE_STATES = frozenset({"shipped", "delivered"})
# a pragmatic address check (one @, a dot in the domain); full RFC 5322 is not the point of a demo
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
MIN_ADDRESS_CHARS = 5


class Item(BaseModel):
    sku: str
    name: str
    qty: int
    price: float


class OrderPublic(BaseModel):
    order_id: str
    status: str
    items: list[Item]
    total: float
    phone: str
    address: str
    created_at: str
    tracking_no: str | None
    carrier: str | None


class OrderList(BaseModel):
    orders: list[OrderPublic]


class LogisticsEvent(BaseModel):
    time: str
    location: str
    desc: str


class LogisticsPublic(BaseModel):
    order_id: str
    carrier: str
    tracking_no: str
    status: str
    events: list[LogisticsEvent]


class CancelPublic(BaseModel):
    ok: bool = True
    order_id: str
    status: str


class AddressUpdate(BaseModel):
    address: str


class AddressPublic(BaseModel):
    ok: bool = True
    order_id: str
    address: str


class ReturnCreate(BaseModel):
    order_id: str
    reason: str = ""
    amount: float | None = None


class ReturnPublic(BaseModel):
    return_id: str
    order_id: str
    status: str
    refund_amount: float


class InvoiceCreate(BaseModel):
    order_id: str
    title: str
    tax_id: str | None = None
    email: str


class InvoicePublic(BaseModel):
    invoice_id: str
    order_id: str
    status: str


class FaultCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path_prefix: str = "/api/"
    delay_s: float = Field(default=0.0, ge=0.0, le=120.0)
    status: int | None = Field(default=None, ge=400, le=599)
    times: int = Field(default=1, ge=1)


class CallRecord(BaseModel):
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float


class CallList(BaseModel):
    calls: list[CallRecord]


@dataclass
class Fault:
    path_prefix: str
    delay_s: float
    status: int | None
    times: int


class Hooks:
    """What tests inspect and inject: the call log and pending faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[CallRecord] = []
        self.faults: list[Fault] = []

    def record(self, call: CallRecord) -> Fault | None:
        """Log the call and take one use of the first fault that matches its path."""
        with self._lock:
            self.calls.append(call)
            for fault in self.faults:
                if call.path.startswith(fault.path_prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.faults.clear()


def _store(request: Request) -> ShopStore:
    store: ShopStore = request.app.state.store
    return store


def _hooks(request: Request) -> Hooks:
    hooks: Hooks = request.app.state.hooks
    return hooks


StoreDep = Annotated[ShopStore, Depends(_store)]
HooksDep = Annotated[Hooks, Depends(_hooks)]


async def record_call(request: Request, hooks: HooksDep) -> None:
    """Record every business call and apply an injected fault (delay and/or error status)."""
    raw = await request.body()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    call = CallRecord(
        method=request.method,
        path=request.url.path,
        query=dict(request.query_params),
        body=body,
        at=time.time(),
    )
    fault = hooks.record(call)
    if fault is None:
        return
    log.info(
        "injecting fault on %s %s: delay %.1fs status %s", call.method, call.path, fault.delay_s, fault.status
    )
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if fault.status is not None:
        raise HTTPException(status_code=fault.status, detail="injected fault")


def _order_or_404(store: ShopStore, order_id: str) -> dict[str, Any]:
    order = store.get_order(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="order not found")
    return order


business = APIRouter(prefix="/api", tags=["shop"], dependencies=[Depends(record_call)])


@business.get("/orders/{order_id}", response_model=OrderPublic)
def get_order(order_id: str, store: StoreDep) -> dict[str, Any]:
    return _order_or_404(store, order_id)


@business.get("/orders", response_model=OrderList)
def list_orders(phone: str, store: StoreDep) -> dict[str, Any]:
    return {"orders": store.orders_by_phone(phone)}


@business.get("/logistics/{order_id}", response_model=LogisticsPublic)
def get_logistics(order_id: str, store: StoreDep) -> dict[str, Any]:
    order = _order_or_404(store, order_id)
    if order["status"] not in SHIPPED_STATES or not order["tracking_no"]:
        raise HTTPException(status_code=404, detail="not shipped")
    events = logistics_events(order["order_id"], order["status"], order["created_at"], order["address"])
    return {
        "order_id": order["order_id"],
        "carrier": order["carrier"],
        "tracking_no": order["tracking_no"],
        "status": "in_transit" if order["status"] == "shipped" else "delivered",
        "events": events,
    }


@business.post("/orders/{order_id}/cancel", response_model=CancelPublic)
def cancel_order(order_id: str, store: StoreDep) -> dict[str, Any]:
    order = _order_or_404(store, order_id)
    if order["status"] == "cancelled":
        raise HTTPException(status_code=409, detail="order already cancelled")
    if order["status"] in SHIPPED_STATES:
        raise HTTPException(status_code=409, detail=f"order already {order['status']}, cannot cancel")
    store.set_status(order_id, "cancelled")
    return {"order_id": order_id, "status": "cancelled"}


@business.post("/orders/{order_id}/address", response_model=AddressPublic)
def change_address(order_id: str, update: AddressUpdate, store: StoreDep) -> dict[str, Any]:
    order = _order_or_404(store, order_id)
    address = update.address.strip()
    if len(address) < MIN_ADDRESS_CHARS:
        raise HTTPException(status_code=422, detail="address too short")
    if order["status"] in SHIPPED_STATES:
        raise HTTPException(status_code=409, detail=f"order already {order['status']}, address cannot change")
    if order["status"] == "cancelled":
        raise HTTPException(status_code=409, detail="order cancelled")
    store.set_address(order_id, address)
    return {"order_id": order_id, "address": address}


@business.post("/returns", response_model=ReturnPublic)
def request_return(body: ReturnCreate, store: StoreDep) -> dict[str, Any]:
    order = _order_or_404(store, body.order_id)
    if order["status"] not in RETURNABLE_STATES:
        raise HTTPException(status_code=409, detail=f"order is {order['status']}, cannot be returned")
    existing = store.open_return(body.order_id)
    if existing is not None and existing["status"] == "requested":
        raise HTTPException(status_code=409, detail=f"return {existing['return_id']} already requested")
    amount = order["total"] if body.amount is None else round(body.amount, 2)
    if amount <= 0 or amount > order["total"]:
        raise HTTPException(status_code=422, detail="refund amount must be between 0 and the order total")
    return_id = store.add_return(body.order_id, body.reason, amount)
    return {"return_id": return_id, "order_id": body.order_id, "status": "requested", "refund_amount": amount}


@business.post("/invoices", response_model=InvoicePublic)
def issue_invoice(body: InvoiceCreate, store: StoreDep) -> dict[str, Any]:
    _order_or_404(store, body.order_id)
    if not EMAIL_RE.match(body.email.strip()):
        raise HTTPException(status_code=422, detail="invalid email")
    if not body.title.strip():
        raise HTTPException(status_code=422, detail="invoice title required")
    invoice_id = store.add_invoice(body.order_id, body.title.strip(), body.tax_id, body.email.strip())
    return {"invoice_id": invoice_id, "order_id": body.order_id, "status": "issued"}


hooks_router = APIRouter(prefix="/api", tags=["test hooks"])


@hooks_router.get("/_calls", response_model=CallList)
def list_calls(hooks: HooksDep) -> dict[str, Any]:
    return {"calls": list(hooks.calls)}


@hooks_router.delete("/_calls")
def clear_calls(hooks: HooksDep) -> dict[str, bool]:
    hooks.calls.clear()
    return {"ok": True}


@hooks_router.post("/_faults")
def add_fault(fault: FaultCreate, hooks: HooksDep) -> dict[str, bool]:
    hooks.faults.append(Fault(**fault.model_dump()))
    return {"ok": True}


@hooks_router.delete("/_faults")
def clear_faults(hooks: HooksDep) -> dict[str, bool]:
    hooks.faults.clear()
    return {"ok": True}


@hooks_router.post("/_reset")
def reset(store: StoreDep, hooks: HooksDep) -> dict[str, bool]:
    store.reseed()
    hooks.clear()
    return {"ok": True}


def create_app(db_path: Path) -> FastAPI:
    """The shop app over one SQLite file (seeded when empty)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = ShopStore(db_path)
        store.load()
        app.state.store = store
        app.state.hooks = Hooks()
        yield
        store.close()

    app = FastAPI(title="小智商城 demo shop backend", lifespan=lifespan)
    app.include_router(business)
    app.include_router(hooks_router)

    @app.get("/healthz")
    def healthz() -> dict[str, str | int]:
        # the pid lets start_shop tell its own child from another server already on the port
        return {"status": "ok", "pid": os.getpid()}

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the demo shop backend")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db", type=Path, default=Path("var/shop.db"))
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    uvicorn.run(create_app(args.db), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
