"""The store's own systems: orders and customers. `StoreBackend` is the one interface an operator
implements to plug in their shop (Shopify, WooCommerce, an ERP...); `SQLiteStoreBackend` is the
embedded sample store's, seeded from knowledge_base/sample_store/orders.json.

The back end answers facts and applies the store's rules (what may be cancelled, what may be
refunded). Who may see an order is decided by the dialogue, which never shows an order to someone
who has not proven it is theirs.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Literal, Protocol

from core.errors import ConfigurationError, NotFound
from core.sqlite import SQLiteWorker

SAMPLE_ORDERS = Path(__file__).resolve().parent.parent / "knowledge_base" / "sample_store" / "orders.json"
RETURN_WINDOW_DAYS = 30

OrderStatus = Literal["processing", "shipped", "delivered", "cancelled"]


@dataclass(frozen=True, slots=True)
class OrderItem:
    sku: str
    title: str
    quantity: int
    unit_price: float


@dataclass(frozen=True, slots=True)
class Order:
    order_number: str
    customer_email: str
    status: OrderStatus
    placed_on: date
    items: tuple[OrderItem, ...]
    currency: str = "USD"
    carrier: str = ""
    tracking_number: str = ""
    estimated_delivery: date | None = None
    delivered_on: date | None = None
    ship_to: str = ""
    refund_status: str = ""  # "", "return_started", "refunded"

    @property
    def total(self) -> float:
        return round(sum(i.quantity * i.unit_price for i in self.items), 2)


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What an action did. `policy_question` is what to look up in the knowledge base to cite the rule;
    `reason` names the outcome (cancelled, already_shipped, outside_window...: bot.phrases.OUTCOMES_ZH),
    so that it can be told in the customer's language; without one, `message` is told as it is."""

    done: bool
    order: Order
    message: str
    policy_question: str = ""
    reason: str = ""


class StoreBackend(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def find_order(self, order_number: str) -> Order | None: ...
    async def linked_customer(self, channel: str, sender: str) -> str | None:
        """The e-mail of the account this channel identity is linked to, if any."""
    async def cancel_order(self, order_number: str) -> ActionOutcome: ...
    async def start_refund(self, order_number: str, reason: str = "") -> ActionOutcome: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (email TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS identities (
    channel TEXT NOT NULL, sender TEXT NOT NULL, email TEXT NOT NULL REFERENCES customers(email),
    PRIMARY KEY (channel, sender)
);
CREATE TABLE IF NOT EXISTS orders (
    order_number TEXT PRIMARY KEY,
    email TEXT NOT NULL REFERENCES customers(email),
    status TEXT NOT NULL,
    placed_on TEXT NOT NULL,
    currency TEXT NOT NULL DEFAULT 'USD',
    carrier TEXT NOT NULL DEFAULT '',
    tracking_number TEXT NOT NULL DEFAULT '',
    estimated_delivery TEXT,
    delivered_on TEXT,
    ship_to TEXT NOT NULL DEFAULT '',
    refund_status TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS order_items (
    order_number TEXT NOT NULL REFERENCES orders(order_number),
    sku TEXT NOT NULL, title TEXT NOT NULL, quantity INTEGER NOT NULL, unit_price REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS order_events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT, order_number TEXT NOT NULL, event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '', at TEXT NOT NULL
);
"""


class SQLiteStoreBackend(SQLiteWorker):
    """Orders in SQLite, one connection on one thread (like the conversation store)."""

    name = "store back end"

    def __init__(self, path: Path, seed_file: Path | None = SAMPLE_ORDERS, today: Callable[[], date] | None = None) -> None:
        super().__init__(path)
        self.seed_file = seed_file
        self.today = today or (lambda: datetime.now(timezone.utc).date())

    async def find_order(self, order_number: str) -> Order | None:
        return await self._run(self._find, order_number)

    async def linked_customer(self, channel: str, sender: str) -> str | None:
        return await self._run(self._linked, channel, sender)

    async def cancel_order(self, order_number: str) -> ActionOutcome:
        return await self._run(self._cancel, order_number)

    async def start_refund(self, order_number: str, reason: str = "") -> ActionOutcome:
        return await self._run(self._refund, order_number, reason)

    # ------------------------------------------------------------------ on the back-end thread

    def _setup(self, db: sqlite3.Connection) -> None:
        db.executescript(SCHEMA)
        if self.seed_file and not db.execute("SELECT 1 FROM orders LIMIT 1").fetchone():
            self._seed(self.seed_file)

    def _seed(self, seed_file: Path) -> None:
        try:
            data = json.loads(Path(seed_file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read sample orders {seed_file}: {exc}", path=str(seed_file)) from exc
        today = self.today()
        try:
            with self.transaction() as db:
                self._insert_seed(db, data, today)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigurationError(f"sample orders {seed_file} are malformed: {exc!r}", path=str(seed_file)) from exc

    @staticmethod
    def _insert_seed(db: sqlite3.Connection, data: dict, today: date) -> None:
        for c in data.get("customers", []):
            db.execute("INSERT OR IGNORE INTO customers(email, name) VALUES (?, ?)", (c["email"].lower(), c.get("name", "")))
        for i in data.get("identities", []):
            db.execute("INSERT OR REPLACE INTO identities VALUES (?, ?, ?)", (i["channel"], i["sender"], i["email"].lower()))
        for o in data.get("orders", []):
            def days(key: str, sign: int, o: dict = o) -> str | None:
                return (today + timedelta(days=sign * o[key])).isoformat() if key in o else None

            db.execute(
                "INSERT INTO orders(order_number, email, status, placed_on, currency, carrier, tracking_number,"
                " estimated_delivery, delivered_on, ship_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (o["order_number"], o["email"].lower(), o["status"], days("placed_days_ago", -1), o.get("currency", "USD"),
                 o.get("carrier", ""), o.get("tracking_number", ""), days("estimated_delivery_in_days", 1),
                 days("delivered_days_ago", -1), o.get("ship_to", "")),
            )
            for item in o.get("items", []):
                db.execute(
                    "INSERT INTO order_items VALUES (?, ?, ?, ?, ?)",
                    (o["order_number"], item["sku"], item["title"], int(item.get("quantity", 1)), float(item["unit_price"])),
                )

    def _find(self, order_number: str) -> Order | None:
        row = self.db.execute(
            "SELECT order_number, email, status, placed_on, currency, carrier, tracking_number, estimated_delivery,"
            " delivered_on, ship_to, refund_status FROM orders WHERE order_number = ?",
            (order_number,),
        ).fetchone()
        if row is None:
            return None
        items = tuple(
            OrderItem(*r) for r in self.db.execute(
                "SELECT sku, title, quantity, unit_price FROM order_items WHERE order_number = ? ORDER BY rowid", (order_number,)
            )
        )

        def day(value: str | None) -> date | None:
            return date.fromisoformat(value) if value else None

        return Order(row[0], row[1], row[2], date.fromisoformat(row[3]), items, row[4], row[5], row[6], day(row[7]),
                     day(row[8]), row[9], row[10])

    def _linked(self, channel: str, sender: str) -> str | None:
        row = self.db.execute("SELECT email FROM identities WHERE channel = ? AND sender = ?", (channel, sender)).fetchone()
        return row[0] if row else None

    def _event(self, order_number: str, event: str, detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO order_events(order_number, event, detail, at) VALUES (?, ?, ?, ?)",
            (order_number, event, detail, datetime.now(timezone.utc).isoformat()),
        )

    def _cancel(self, order_number: str) -> ActionOutcome:
        order = self._require(order_number)
        question = "Can I cancel my order after it has shipped?"
        if order.status == "cancelled":
            return ActionOutcome(False, order, f"Order {order_number} is already cancelled.", "", "already_cancelled")
        if order.status != "processing":
            return ActionOutcome(
                False, order,
                f"Order {order_number} has already {'been delivered' if order.status == 'delivered' else 'shipped'}, "
                "so it can no longer be cancelled. You can return it once it arrives.",
                question, "already_delivered" if order.status == "delivered" else "already_shipped",
            )
        with self.transaction() as db:
            db.execute("UPDATE orders SET status = 'cancelled' WHERE order_number = ?", (order_number,))
            self._event(order_number, "cancelled", "by customer via chat")
        return ActionOutcome(
            True, self._require(order_number),
            f"Done: order {order_number} is cancelled. Your payment of ${order.total:.2f} will be released to your original payment method.",
            "How long does a refund take to appear after a cancellation?", "cancelled",
        )

    def _refund(self, order_number: str, reason: str) -> ActionOutcome:
        order = self._require(order_number)
        window = "How many days do I have to return an item?"
        if order.refund_status:
            state = "is already refunded" if order.refund_status == "refunded" else "already has a return in progress"
            return ActionOutcome(False, order, f"Order {order_number} {state}.", "How long do refunds take?",
                                 "already_refunded" if order.refund_status == "refunded" else "return_in_progress")
        if order.status == "cancelled":
            return ActionOutcome(False, order, f"Order {order_number} was cancelled, so nothing was charged to refund.", "",
                                 "nothing_to_refund")
        if order.status != "delivered" or order.delivered_on is None:
            return ActionOutcome(
                False, order,
                f"Order {order_number} hasn't been delivered yet. Once it arrives you can return it for a refund; "
                "if you'd rather not receive it at all, I can check whether it can still be cancelled.",
                window, "not_delivered",
            )
        age = (self.today() - order.delivered_on).days
        if age > RETURN_WINDOW_DAYS:
            return ActionOutcome(
                False, order,
                f"Order {order_number} was delivered {age} days ago, outside the {RETURN_WINDOW_DAYS}-day return window, "
                "so I can't start a refund for it here.",
                window, "outside_window",
            )
        with self.transaction() as db:
            db.execute("UPDATE orders SET refund_status = 'return_started' WHERE order_number = ?", (order_number,))
            self._event(order_number, "return_started", reason[:500])
        return ActionOutcome(
            True, self._require(order_number),
            f"I've started a return for order {order_number}. We'll e-mail you a prepaid return label; "
            f"your refund of ${order.total:.2f} is issued once the item reaches us and passes inspection.",
            "When is my refund processed?", "return_started",
        )

    def _require(self, order_number: str) -> Order:
        order = self._find(order_number)
        if order is None:
            raise NotFound(f"no order {order_number!r}", order_number=order_number)
        return order
