from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta

import pytest

from bot.backend import RETURN_WINDOW_DAYS, SAMPLE_ORDERS, OrderItem, SQLiteStoreBackend
from core.errors import ConfigurationError, NotFound, StorageError

TODAY = date(2024, 3, 15)


class Clock:
    """A `today` callable the test can move forward."""

    def __init__(self, day: date = TODAY) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "store" / "store.sqlite3"


@pytest.fixture
async def backend(db_path, clock):
    b = SQLiteStoreBackend(db_path, today=clock)
    await b.open()
    yield b
    await b.close()


def _count(path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_default_seed_file_is_the_sample_store():
    assert SAMPLE_ORDERS.is_file()
    assert SQLiteStoreBackend("x.sqlite3").seed_file == SAMPLE_ORDERS


# ------------------------------------------------------------------ seeding and reading


async def test_find_order_returns_items_total_and_dates_relative_to_today(backend):
    order = await backend.find_order("12345")
    assert order is not None
    assert order.order_number == "12345"
    assert order.customer_email == "ana.lima@example.com"
    assert order.status == "shipped"
    assert order.placed_on == TODAY - timedelta(days=3)
    assert order.estimated_delivery == TODAY + timedelta(days=2)
    assert order.delivered_on is None
    assert (order.carrier, order.tracking_number, order.currency) == ("UPS", "1Z999AA10123456784", "USD")
    assert order.ship_to == "Portland, OR, US"
    assert order.items == (OrderItem("NW-APP-0001", "Northwind Stormline Rain Jacket, Men's", 1, 169.0),)
    assert order.total == 169.0
    assert order.refund_status == ""


async def test_total_multiplies_quantity(backend):
    order = await backend.find_order("12346")
    assert order.items[0].quantity == 2
    assert order.total == 68.0


async def test_delivered_order_has_delivery_date(backend):
    order = await backend.find_order("12348")
    assert order.status == "delivered"
    assert order.placed_on == TODAY - timedelta(days=70)
    assert order.delivered_on == TODAY - timedelta(days=64)
    assert order.estimated_delivery is None


async def test_unknown_order_is_none(backend):
    assert await backend.find_order("99999") is None
    assert await backend.find_order("") is None


async def test_linked_customer(backend):
    assert await backend.linked_customer("rest", "ana-lima") == "ana.lima@example.com"
    assert await backend.linked_customer("rest", "ben-okafor") == "ben.okafor@example.com"
    assert await backend.linked_customer("web", "ana-lima") is None  # widget sessions are nobody in particular
    assert await backend.linked_customer("rest", "ben-okafor") == "ben.okafor@example.com"
    assert await backend.linked_customer("rest", "stranger") is None
    assert await backend.linked_customer("whatsapp", "ana-lima") is None  # linked per channel


async def test_seeding_happens_once(db_path, clock):
    first = SQLiteStoreBackend(db_path, today=clock)
    await first.open()
    await first.close()
    orders, items = _count(db_path, "orders"), _count(db_path, "order_items")
    assert orders == 6 and items == 6

    clock.day = TODAY + timedelta(days=5)  # a later start must neither re-seed nor move the dates
    again = SQLiteStoreBackend(db_path, today=clock)
    await again.open()
    try:
        order = await again.find_order("12345")
        assert len(order.items) == 1
        assert order.placed_on == TODAY - timedelta(days=3)
    finally:
        await again.close()
    assert (_count(db_path, "orders"), _count(db_path, "order_items"), _count(db_path, "customers")) == (6, 6, 3)


async def test_no_seed_file_gives_an_empty_store(db_path):
    b = SQLiteStoreBackend(db_path, seed_file=None)
    await b.open()
    try:
        assert await b.find_order("12345") is None
        assert await b.linked_customer("rest", "ana-lima") is None
    finally:
        await b.close()


async def test_broken_seed_file_raises_configuration_error_naming_the_path(tmp_path, db_path):
    seed = tmp_path / "orders.json"
    seed.write_text('{"orders": [', encoding="utf-8")
    b = SQLiteStoreBackend(db_path, seed_file=seed, today=Clock())
    try:
        with pytest.raises(ConfigurationError) as info:
            await b.open()
    finally:
        await b.close()
    assert str(seed) in info.value.message
    assert info.value.details["path"] == str(seed)


async def test_missing_seed_file_raises_configuration_error(tmp_path, db_path):
    seed = tmp_path / "nope.json"
    b = SQLiteStoreBackend(db_path, seed_file=seed)
    try:
        with pytest.raises(ConfigurationError, match="nope.json"):
            await b.open()
    finally:
        await b.close()


async def test_methods_before_open_raise_storage_error(db_path):
    b = SQLiteStoreBackend(db_path)
    with pytest.raises(StorageError):
        await b.find_order("12345")
    with pytest.raises(StorageError):
        await b.linked_customer("rest", "ana-lima")
    with pytest.raises(StorageError):
        await b.cancel_order("12346")
    with pytest.raises(StorageError):
        await b.start_refund("12347")
    await b.close()  # closing a never-opened back end is harmless


async def test_methods_after_close_raise_storage_error(backend):
    await backend.close()
    with pytest.raises(StorageError):
        await backend.find_order("12345")


# ------------------------------------------------------------------ cancelling


async def test_cancel_processing_order(backend, db_path):
    outcome = await backend.cancel_order("12346")
    assert outcome.done is True
    assert outcome.order.status == "cancelled"
    assert "12346" in outcome.message and "$68.00" in outcome.message
    assert outcome.policy_question
    assert (await backend.find_order("12346")).status == "cancelled"
    with sqlite3.connect(db_path) as db:
        events = db.execute("SELECT order_number, event FROM order_events").fetchall()
    assert events == [("12346", "cancelled")]


async def test_cancellation_persists_across_reopen(db_path, clock):
    b = SQLiteStoreBackend(db_path, today=clock)
    await b.open()
    assert (await b.cancel_order("12346")).done
    await b.close()
    b = SQLiteStoreBackend(db_path, today=clock)
    await b.open()
    try:
        assert (await b.find_order("12346")).status == "cancelled"
    finally:
        await b.close()


@pytest.mark.parametrize("number, word", [("12345", "shipped"), ("12349", "shipped"), ("12347", "delivered")])
async def test_cannot_cancel_shipped_or_delivered(backend, number, word):
    before = await backend.find_order(number)
    outcome = await backend.cancel_order(number)
    assert outcome.done is False
    assert word in outcome.message and number in outcome.message
    assert outcome.policy_question == "Can I cancel my order after it has shipped?"
    assert outcome.order == before
    assert (await backend.find_order(number)).status == before.status


async def test_cannot_cancel_twice(backend):
    assert (await backend.cancel_order("12346")).done
    again = await backend.cancel_order("12346")
    assert again.done is False
    assert "already cancelled" in again.message


async def test_cannot_cancel_seeded_cancelled_order(backend):
    outcome = await backend.cancel_order("12350")
    assert outcome.done is False
    assert "already cancelled" in outcome.message


async def test_cancel_unknown_order_is_not_found(backend):
    with pytest.raises(NotFound):
        await backend.cancel_order("99999")


# ------------------------------------------------------------------ refunds


async def test_refund_delivered_within_window(backend):
    outcome = await backend.start_refund("12347", reason="too loud")
    assert outcome.done is True
    assert outcome.order.refund_status == "return_started"
    assert "$199.00" in outcome.message
    assert outcome.policy_question
    assert (await backend.find_order("12347")).refund_status == "return_started"

    again = await backend.start_refund("12347")
    assert again.done is False
    assert "already has a return in progress" in again.message


async def test_refund_outside_window_refused(backend):
    outcome = await backend.start_refund("12348")
    assert outcome.done is False
    assert "64 days ago" in outcome.message
    assert f"{RETURN_WINDOW_DAYS}-day return window" in outcome.message
    assert outcome.policy_question == "How many days do I have to return an item?"
    assert (await backend.find_order("12348")).refund_status == ""


async def test_refund_window_follows_today(backend, clock):
    clock.day = TODAY + timedelta(days=21)  # 12347 was delivered 10 days before TODAY: now 31 days ago
    outcome = await backend.start_refund("12347")
    assert outcome.done is False
    assert "31 days ago" in outcome.message


async def test_refund_window_boundary(tmp_path, clock):
    seed = tmp_path / "orders.json"
    seed.write_text(json.dumps({
        "customers": [{"email": "A@Example.com"}],
        "orders": [
            {"order_number": n, "email": "a@example.com", "status": "delivered", "placed_days_ago": d + 2,
             "delivered_days_ago": d, "items": [{"sku": "NW-X-1", "title": "x", "unit_price": 1}]}
            for n, d in (("30", RETURN_WINDOW_DAYS), ("31", RETURN_WINDOW_DAYS + 1))
        ],
    }), encoding="utf-8")
    b = SQLiteStoreBackend(tmp_path / "db.sqlite3", seed_file=seed, today=clock)
    await b.open()
    try:
        assert (await b.find_order("30")).customer_email == "a@example.com"  # e-mails lower-cased on seeding
        assert (await b.start_refund("30")).done is True
        assert (await b.start_refund("31")).done is False
    finally:
        await b.close()


@pytest.mark.parametrize("number", ["12345", "12346"])
async def test_refund_not_delivered_refused(backend, number):
    outcome = await backend.start_refund(number)
    assert outcome.done is False
    assert "hasn't been delivered" in outcome.message
    assert (await backend.find_order(number)).refund_status == ""


async def test_refund_cancelled_refused(backend):
    outcome = await backend.start_refund("12350")
    assert outcome.done is False
    assert "cancelled" in outcome.message


async def test_refund_unknown_order_is_not_found(backend):
    with pytest.raises(NotFound):
        await backend.start_refund("99999")


async def test_every_outcome_names_its_reason_and_has_a_chinese_text(backend):
    from bot.backend import ActionOutcome
    from bot.phrases import OUTCOMES_ZH, describe_outcome, policy_question

    outcomes = [
        await backend.cancel_order("12345"), await backend.cancel_order("12347"), await backend.cancel_order("12346"),
        await backend.cancel_order("12346"), await backend.start_refund("12345"), await backend.start_refund("12348"),
        await backend.start_refund("12347"), await backend.start_refund("12347"), await backend.start_refund("12350"),
    ]
    assert [o.reason for o in outcomes] == [
        "already_shipped", "already_delivered", "cancelled", "already_cancelled", "not_delivered", "outside_window",
        "return_started", "return_in_progress", "nothing_to_refund",
    ]
    for outcome in outcomes:
        assert outcome.reason in OUTCOMES_ZH
        assert describe_outcome(outcome) == describe_outcome(outcome, "en") == outcome.message
        zh = describe_outcome(outcome, "zh")
        assert zh != outcome.message and outcome.order.order_number in zh
        assert policy_question(outcome.policy_question) == outcome.policy_question
        assert not outcome.policy_question or policy_question(outcome.policy_question, "zh") != outcome.policy_question
    assert f"{RETURN_WINDOW_DAYS} 天" in describe_outcome(outcomes[5], "zh")
    # An operator's back end that names no reason is told in its own words.
    plain = ActionOutcome(False, outcomes[0].order, "Custom refusal.")
    assert describe_outcome(plain, "zh") == "Custom refusal."
