"""SQLite storage of the demo shop's orders, returns and invoices.

The stdlib `sqlite3` is enough here: one process, a handful of rows, and a lock around each
statement because FastAPI may run handlers on several threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from csbot.demo.shop_seed import seed_orders

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    items TEXT NOT NULL,
    total REAL NOT NULL,
    phone TEXT NOT NULL,
    address TEXT NOT NULL,
    created_at TEXT NOT NULL,
    tracking_no TEXT,
    carrier TEXT
);
CREATE INDEX IF NOT EXISTS ix_orders_phone ON orders (phone);
CREATE TABLE IF NOT EXISTS returns (
    return_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    refund_amount REAL NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
    invoice_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    title TEXT NOT NULL,
    tax_id TEXT,
    email TEXT NOT NULL,
    status TEXT NOT NULL
);
"""

ORDER_COLUMNS = "order_id, status, items, total, phone, address, created_at, tracking_no, carrier"


class ShopStore:
    """Orders and their after-sales records in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def load(self) -> None:
        """Open the file, creating and seeding it on first start."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.executescript(SCHEMA)
            empty = self._conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0
        if empty:
            self.reseed()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("ShopStore.load() was not called")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def reseed(self) -> None:
        """Drop every change and write the deterministic seed again."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN")
            for table in ("orders", "returns", "invoices"):
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            for order in seed_orders():
                items = [{"sku": i.sku, "name": i.name, "qty": i.qty, "price": i.price} for i in order.items]
                conn.execute(
                    f"INSERT INTO orders ({ORDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        order.order_id,
                        order.status,
                        json.dumps(items, ensure_ascii=False),
                        order.total,
                        order.phone,
                        order.address,
                        order.created_at,
                        order.tracking_no,
                        order.carrier,
                    ),
                )
                if order.status == "returned":
                    conn.execute(
                        "INSERT INTO returns VALUES (?, ?, ?, ?, ?)",
                        (f"R{order.order_id}01", order.order_id, "七天无理由退货", order.total, "refunded"),
                    )
            conn.execute("COMMIT")

    @staticmethod
    def _order(row: sqlite3.Row) -> dict[str, Any]:
        data = dict(row)
        data["items"] = json.loads(data["items"])
        return data

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self.conn.execute(
                f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()
        return self._order(row) if row else None

    def orders_by_phone(self, phone: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.conn.execute(
                f"SELECT {ORDER_COLUMNS} FROM orders WHERE phone = ? ORDER BY created_at DESC", (phone,)
            ).fetchall()
        return [self._order(row) for row in rows]

    def set_status(self, order_id: str, status: str) -> None:
        with self._lock:
            self.conn.execute("UPDATE orders SET status = ? WHERE order_id = ?", (status, order_id))

    def set_address(self, order_id: str, address: str) -> None:
        with self._lock:
            self.conn.execute("UPDATE orders SET address = ? WHERE order_id = ?", (address, order_id))

    def open_return(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT * FROM returns WHERE order_id = ? ORDER BY return_id DESC", (order_id,)
            ).fetchone()
        return dict(row) if row else None

    def add_return(self, order_id: str, reason: str, refund_amount: float) -> str:
        with self._lock:
            count = self.conn.execute(
                "SELECT COUNT(*) FROM returns WHERE order_id = ?", (order_id,)
            ).fetchone()[0]
            return_id = f"R{order_id}{count + 1:02d}"
            self.conn.execute(
                "INSERT INTO returns VALUES (?, ?, ?, ?, ?)",
                (return_id, order_id, reason, refund_amount, "requested"),
            )
        return return_id

    def add_invoice(self, order_id: str, title: str, tax_id: str | None, email: str) -> str:
        with self._lock:
            count = self.conn.execute(
                "SELECT COUNT(*) FROM invoices WHERE order_id = ?", (order_id,)
            ).fetchone()[0]
            invoice_id = f"I{order_id}{count + 1:02d}"
            self.conn.execute(
                "INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?)",
                (invoice_id, order_id, title, tax_id, email, "issued"),
            )
        return invoice_id
