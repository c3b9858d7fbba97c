"""The channels' durable inbox and outbox, in the conversation database.

A webhook delivery is written here (with the platform's ids) before the platform is acknowledged, so
a retried or replayed delivery is recognised and answered once, and a message the bot could not
answer or send yet survives a crash or a platform outage and is picked up again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from connectors.base import InboundMessage
from core.errors import NotFound
from core.sqlite import SQLiteWorker
from core.types import utcnow

SCHEMA = """
CREATE TABLE IF NOT EXISTS channel_deliveries (
    delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,  -- the customer's words; '' for a message an agent sends
    address TEXT NOT NULL,
    -- received → answered → sent; or silent (a person has the conversation), dropped (rate limit,
    -- empty text), failed (the platform refused it for good), dead (every retry failed: a dead
    -- letter, sent again when the platform answers), expired (left unanswered by a run that stopped,
    -- or a dead letter, past the reply window or the replay limit)
    status TEXT NOT NULL,
    reply TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    last_error TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS channel_deliveries_due ON channel_deliveries(status, next_attempt_at);
CREATE TABLE IF NOT EXISTS channel_delivery_keys (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    delivery_id INTEGER NOT NULL REFERENCES channel_deliveries(delivery_id),
    PRIMARY KEY (channel, key)
);
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: int
    channel: str
    sender: str
    text: str
    address: dict[str, Any]
    status: str
    reply: str | None
    attempts: int
    last_error: str


class DeliveryLog(SQLiteWorker):
    name = "channel delivery log"

    def __init__(self, path, clock: Callable[[], float] = time.time) -> None:
        super().__init__(path)
        self.clock = clock

    def _setup(self, db: sqlite3.Connection) -> None:
        db.executescript(SCHEMA)

    async def accept(self, message: InboundMessage) -> int | None:
        """Record a delivery; None when any of its keys was seen before (a retry or a replay)."""
        return await self._run(self._accept, message)

    async def outbound(self, channel: str, sender: str, text: str) -> int:
        """A message to the customer that answers no delivery (an agent's): it goes to the address
        of the customer's most recent delivery. NotFound when the customer never wrote on this channel."""
        return await self._run(self._outbound, channel, sender, text)

    async def answered(self, delivery_id: int, reply: str) -> None:
        await self._run(self._update, delivery_id, "answered", reply, None, "")

    async def finished(self, delivery_id: int, status: str, error: str = "") -> None:
        """sent, silent, dropped or failed: nothing more to do for this delivery."""
        await self._run(self._update, delivery_id, status, None, None, error)

    async def send_failed(self, delivery_id: int, error: str, retry_at: float) -> None:
        await self._run(self._send_failed, delivery_id, error, retry_at)

    async def claim_due(self, limit: int = 50) -> list[Delivery]:
        """Answered deliveries whose next send is due, taken so that no other sweep sends them too."""
        return await self._run(self._claim_due, limit)

    async def expire_unanswered(self, max_age_hours: float, keep: int) -> int:
        """Mark as `expired` the unanswered deliveries older than `max_age_hours`, and all but the
        newest `keep` of the rest: past a platform's reply window an answer is no use (an agent sees
        them in the log). Returns how many were expired."""
        return await self._run(self._expire_unanswered, max_age_hours, keep)

    async def unanswered(self) -> list[Delivery]:
        """Deliveries accepted but never answered: the process stopped mid-way. Called at start-up."""
        return await self._run(self._select, "status = 'received'", ())

    async def reschedule_unsent(self, now: float) -> None:
        """At start-up: answered deliveries whose send was in flight when the last run stopped are due now."""
        await self._run(
            lambda: self.db.execute(
                "UPDATE channel_deliveries SET next_attempt_at = ? WHERE status = 'answered' AND next_attempt_at IS NULL", (now,)
            )
        )

    async def count(self, status: str) -> int:
        return await self._run(lambda: self.db.execute(
            "SELECT COUNT(*) FROM channel_deliveries WHERE status = ?", (status,)).fetchone()[0])

    async def dead(self, channel: str | None = None, limit: int = -1) -> list[Delivery]:
        """Dead letters (every retry failed), oldest first; at most `limit` (-1: all)."""
        return await self._run(self._select, "status = 'dead' AND (channel = ? OR ? IS NULL)", (channel, channel), limit)

    async def dead_channels(self) -> set[str]:
        return await self._run(lambda: {r[0] for r in self.db.execute(
            "SELECT DISTINCT channel FROM channel_deliveries WHERE status = 'dead'")})

    async def revive(self, channel: str, max_age_hours: float) -> tuple[int, int]:
        """The platform answers again: `channel`'s dead letters younger than its reply window are due
        now (attempts start again); older ones are expired. Returns (revived, expired)."""
        return await self._run(self._revive, channel, max_age_hours)

    async def get(self, delivery_id: int) -> Delivery:
        [delivery] = await self._run(self._select, "delivery_id = ?", (delivery_id,))
        return delivery

    async def all(self, channel: str | None = None) -> list[Delivery]:
        return await self._run(self._select, "channel = ? OR ? IS NULL", (channel, channel))

    async def forget_before(self, days: float) -> int:
        """Drop finished deliveries older than `days` (their keys too): the table does not grow forever."""
        return await self._run(self._forget_before, days)

    # ------------------------------------------------------------------ worker thread

    def _accept(self, message: InboundMessage) -> int | None:
        now = utcnow().isoformat()
        with self.transaction() as db:
            marks = ",".join("?" * len(message.delivery_keys))
            seen = db.execute(
                f"SELECT 1 FROM channel_delivery_keys WHERE channel = ? AND key IN ({marks}) LIMIT 1",
                (message.channel, *message.delivery_keys),
            ).fetchone()
            if seen:
                return None
            cursor = db.execute(
                "INSERT INTO channel_deliveries (channel, sender, text, address, status, received_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'received', ?, ?)",
                (message.channel, message.sender, message.text, json.dumps(message.address), now, now),
            )
            delivery_id = int(cursor.lastrowid)
            db.executemany(
                "INSERT INTO channel_delivery_keys (channel, key, delivery_id) VALUES (?, ?, ?)",
                [(message.channel, key, delivery_id) for key in message.delivery_keys],
            )
            return delivery_id

    def _outbound(self, channel: str, sender: str, text: str) -> int:
        row = self.db.execute(
            "SELECT address FROM channel_deliveries WHERE channel = ? AND sender = ? AND text != '' "
            "ORDER BY delivery_id DESC LIMIT 1",
            (channel, sender),
        ).fetchone()
        if row is None:
            raise NotFound(f"no {channel} delivery from {sender} to reply to", channel=channel)
        now = utcnow().isoformat()
        cursor = self.db.execute(
            "INSERT INTO channel_deliveries (channel, sender, text, address, status, reply, received_at, updated_at) "
            "VALUES (?, ?, '', ?, 'answered', ?, ?, ?)",
            (channel, sender, row[0], text, now, now),
        )
        return int(cursor.lastrowid)

    def _update(self, delivery_id: int, status: str, reply: str | None, retry_at: float | None, error: str) -> None:
        self.db.execute(
            "UPDATE channel_deliveries SET status = ?, reply = COALESCE(?, reply), next_attempt_at = ?, "
            "last_error = COALESCE(NULLIF(?, ''), last_error), updated_at = ? WHERE delivery_id = ?",
            (status, reply, retry_at, error, utcnow().isoformat(), delivery_id),
        )

    def _send_failed(self, delivery_id: int, error: str, retry_at: float) -> None:
        self.db.execute(
            "UPDATE channel_deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, updated_at = ? "
            "WHERE delivery_id = ?",
            (retry_at, error[:500], utcnow().isoformat(), delivery_id),
        )

    def _claim_due(self, limit: int) -> list[Delivery]:
        with self.transaction() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM channel_deliveries WHERE status = 'answered' AND next_attempt_at IS NOT NULL "
                "AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
                (self.clock(), limit),
            ).fetchall()
            db.executemany("UPDATE channel_deliveries SET next_attempt_at = NULL WHERE delivery_id = ?", [(r[0],) for r in rows])
        return [_delivery(r) for r in rows]

    def _select(self, where: str, args: tuple, limit: int = -1) -> list[Delivery]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM channel_deliveries WHERE {where} ORDER BY delivery_id LIMIT ?",
                               (*args, limit))
        return [_delivery(r) for r in rows]

    def _expire_unanswered(self, max_age_hours: float, keep: int) -> int:
        cutoff = datetime.fromtimestamp(utcnow().timestamp() - max_age_hours * 3600, timezone.utc).isoformat()
        now = utcnow().isoformat()
        with self.transaction() as db:
            expired = db.execute(
                "UPDATE channel_deliveries SET status = 'expired', last_error = 'not answered within the reply window', "
                "updated_at = ? WHERE status = 'received' AND received_at < ?", (now, cutoff)).rowcount
            expired += db.execute(
                "UPDATE channel_deliveries SET status = 'expired', last_error = 'too many left unanswered at start-up', "
                "updated_at = ? WHERE status = 'received' AND delivery_id NOT IN "
                "(SELECT delivery_id FROM channel_deliveries WHERE status = 'received' ORDER BY delivery_id DESC LIMIT ?)",
                (now, max(0, keep))).rowcount
        return expired

    def _revive(self, channel: str, max_age_hours: float) -> tuple[int, int]:
        now = utcnow()
        cutoff = (now - timedelta(hours=max_age_hours)).isoformat()
        with self.transaction() as db:
            expired = db.execute(
                "UPDATE channel_deliveries SET status = 'expired', last_error = 'dead letter past the reply window', "
                "updated_at = ? WHERE status = 'dead' AND channel = ? AND received_at < ?", (now.isoformat(), channel, cutoff)).rowcount
            revived = db.execute(
                "UPDATE channel_deliveries SET status = 'answered', attempts = 0, next_attempt_at = ?, updated_at = ? "
                "WHERE status = 'dead' AND channel = ?", (self.clock(), now.isoformat(), channel)).rowcount
        return revived, expired

    def _forget_before(self, days: float) -> int:
        # ISO-8601 UTC timestamps of one format compare correctly as text.
        cutoff = datetime.fromtimestamp(utcnow().timestamp() - days * 86400, timezone.utc).isoformat()
        finished = "status IN ('sent', 'silent', 'dropped', 'failed', 'expired') AND received_at < ?"  # dead letters wait
        with self.transaction() as db:
            db.execute(
                f"DELETE FROM channel_delivery_keys WHERE delivery_id IN (SELECT delivery_id FROM channel_deliveries WHERE {finished})",
                (cutoff,),
            )
            return db.execute(f"DELETE FROM channel_deliveries WHERE {finished}", (cutoff,)).rowcount


_COLUMNS = "delivery_id, channel, sender, text, address, status, reply, attempts, last_error"


def _delivery(row: tuple) -> Delivery:
    return Delivery(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7], row[8])

