"""Durable conversation history. SQLite is the embedded default; another database implements
the same ConversationStore interface and passes the same contract tests."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timedelta
from typing import Any, Sequence

from core.errors import NotFound
from core.slots import Slots
from core.sqlite import SQLiteWorker
from core.types import Conversation, Role, StoredTurn, utcnow

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    sender TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT 'bot'
);
CREATE INDEX IF NOT EXISTS conversations_by_sender ON conversations(channel, sender, updated_at);
CREATE TABLE IF NOT EXISTS turns (
    turn_id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns(conversation_id, turn_id);
"""
# Columns added after the first release; databases created before get them on open.
MIGRATIONS = (
    ("slots", "ALTER TABLE conversations ADD COLUMN slots TEXT NOT NULL DEFAULT '{}'"),
    ("handoff_reason", "ALTER TABLE conversations ADD COLUMN handoff_reason TEXT NOT NULL DEFAULT ''"),
    ("handoff_at", "ALTER TABLE conversations ADD COLUMN handoff_at TEXT"),
)
TURN_MIGRATIONS = (
    # The channel's or client's message id of a customer turn, and the customer turn a bot turn answers.
    ("message_id", "ALTER TABLE turns ADD COLUMN message_id TEXT"),
    ("in_reply_to", "ALTER TABLE turns ADD COLUMN in_reply_to INTEGER"),
)
COLUMNS = "conversation_id, channel, sender, created_at, owner, updated_at, slots, handoff_reason, handoff_at"


class SQLiteConversationStore(SQLiteWorker):
    """Every write is committed (WAL, synchronous=FULL) before the call returns."""

    name = "conversation store"

    def _setup(self, db: sqlite3.Connection) -> None:
        db.executescript(SCHEMA)
        present = {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
        for column, statement in MIGRATIONS:
            if column not in present:
                db.execute(statement)
        db.execute("CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations(owner, handoff_at)")
        present = {row[1] for row in db.execute("PRAGMA table_info(turns)")}
        for column, statement in TURN_MIGRATIONS:
            if column not in present:
                db.execute(statement)
        db.execute("CREATE UNIQUE INDEX IF NOT EXISTS turns_by_message_id ON turns(conversation_id, message_id) "
                   "WHERE message_id IS NOT NULL")
        db.execute("CREATE INDEX IF NOT EXISTS turns_by_reply ON turns(in_reply_to) WHERE in_reply_to IS NOT NULL")

    # ------------------------------------------------------------------ API

    async def conversation_for(self, channel: str, sender: str) -> Conversation:
        """The sender's conversation on this channel, created on first contact."""
        return await self._run(self._conversation_for, channel, sender)

    async def find_conversation(self, channel: str, sender: str) -> Conversation | None:
        """The sender's conversation on this channel, or None: nothing is created."""
        return await self._run(self._find_conversation, channel, sender)

    async def get(self, conversation_id: str) -> Conversation:
        return await self._run(self._get, conversation_id)

    async def mark_unanswered(self, channels: Sequence[str], max_age_days: float = 7.0) -> list[StoredTurn]:
        """Customer turns on `channels` that a run stopped before answering (no reply, nothing after
        them), each marked now with a system turn so that agents see it (`unanswered`) and it is not
        marked twice. Conversations with a person are left alone: the person answers there."""
        return await self._run(self._mark_unanswered, tuple(channels), max_age_days)

    async def unanswered(self, limit: int = 100) -> list[tuple[Conversation, StoredTurn]]:
        """Marked turns nobody has answered since (no bot or agent turn after the mark), oldest first."""
        return await self._run(self._unanswered, limit)

    async def append(self, conversation_id: str, role: Role, text: str, payload: dict[str, Any] | None = None,
                     slots: Slots | None = None, *, message_id: str | None = None,
                     in_reply_to: int | None = None) -> StoredTurn:
        """Add a turn; with `slots`, replace the conversation's slots in the same transaction.
        `message_id` (customer turns) is unique per conversation; `in_reply_to` links a reply to its turn."""
        slots_json = None if slots is None else json.dumps(slots.to_dict(), ensure_ascii=False)
        return await self._run(self._append, conversation_id, role, text, payload or {}, slots_json, message_id, in_reply_to)

    async def find_message(self, conversation_id: str, message_id: str) -> tuple[StoredTurn, StoredTurn | None] | None:
        """The customer turn stored with `message_id` and the bot's reply to it (None if not answered yet)."""
        return await self._run(self._find_message, conversation_id, message_id)

    async def history(self, conversation_id: str, limit: int | None = None) -> list[StoredTurn]:
        return await self._run(self._history, conversation_id, limit)

    async def set_owner(self, conversation_id: str, owner: str, reason: str = "") -> Conversation:
        """Hand a conversation to a human (owner "human", with the reason) or back to the bot."""
        if owner not in ("bot", "human"):
            raise ValueError(f"owner must be 'bot' or 'human', not {owner!r}")
        return await self._run(self._set_owner, conversation_id, owner, reason)

    async def set_slots(self, conversation_id: str, slots: Slots) -> Conversation:
        return await self._run(self._set_slots, conversation_id, json.dumps(slots.to_dict(), ensure_ascii=False))

    async def handoffs(self) -> list[Conversation]:
        """Conversations waiting for or owned by a person, oldest handoff first."""
        return await self._run(self._handoffs)

    # ------------------------------------------------------------------ on the store thread

    def _find_conversation(self, channel: str, sender: str) -> Conversation | None:
        row = self.db.execute(
            f"SELECT {COLUMNS} FROM conversations WHERE channel = ? AND sender = ? ORDER BY updated_at DESC LIMIT 1",
            (channel, sender),
        ).fetchone()
        return _conversation(row) if row else None

    def _conversation_for(self, channel: str, sender: str) -> Conversation:
        found = self._find_conversation(channel, sender)
        if found is not None:
            return found
        now = utcnow().isoformat()
        conversation_id = uuid.uuid4().hex
        self.db.execute(
            "INSERT INTO conversations(conversation_id, channel, sender, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (conversation_id, channel, sender, now, now),
        )
        return Conversation(conversation_id, channel, sender, datetime.fromisoformat(now), updated_at=datetime.fromisoformat(now))

    def _get(self, conversation_id: str) -> Conversation:
        row = self.db.execute(
            f"SELECT {COLUMNS} FROM conversations WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchone()
        if not row:
            raise NotFound(f"no conversation {conversation_id!r}", conversation_id=conversation_id)
        return _conversation(row)

    def _append(self, conversation_id: str, role: str, text: str, payload: dict[str, Any], slots_json: str | None = None,
                message_id: str | None = None, in_reply_to: int | None = None) -> StoredTurn:
        now = utcnow().isoformat()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO turns(conversation_id, role, text, created_at, payload, message_id, in_reply_to)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, text, now, json.dumps(payload, ensure_ascii=False), message_id, in_reply_to),
            )
            if slots_json is None:
                db.execute("UPDATE conversations SET updated_at = ? WHERE conversation_id = ?", (now, conversation_id))
            else:
                db.execute("UPDATE conversations SET updated_at = ?, slots = ? WHERE conversation_id = ?", (now, slots_json, conversation_id))
        return StoredTurn(int(cursor.lastrowid), conversation_id, role, text, datetime.fromisoformat(now), payload)  # type: ignore[arg-type]

    def _find_message(self, conversation_id: str, message_id: str) -> tuple[StoredTurn, StoredTurn | None] | None:
        select = "SELECT turn_id, conversation_id, role, text, created_at, payload FROM turns WHERE "
        row = self.db.execute(select + "conversation_id = ? AND message_id = ?", (conversation_id, message_id)).fetchone()
        if row is None:
            return None
        reply = self.db.execute(select + "in_reply_to = ? AND role = 'bot' ORDER BY turn_id LIMIT 1", (row[0],)).fetchone()
        return _turn(row), (_turn(reply) if reply else None)

    def _mark_unanswered(self, channels: tuple[str, ...], max_age_days: float) -> list[StoredTurn]:
        cutoff = (utcnow() - timedelta(days=max_age_days)).isoformat()
        marks = ",".join("?" * len(channels))
        rows = self.db.execute(
            "SELECT t.turn_id, t.conversation_id, t.role, t.text, t.created_at, t.payload FROM turns t "
            "JOIN conversations c ON c.conversation_id = t.conversation_id "
            f"WHERE t.role = 'customer' AND c.owner = 'bot' AND c.channel IN ({marks}) AND t.created_at >= ? "
            "AND NOT EXISTS (SELECT 1 FROM turns r WHERE r.in_reply_to = t.turn_id) "
            "AND NOT EXISTS (SELECT 1 FROM turns l WHERE l.conversation_id = t.conversation_id AND l.turn_id > t.turn_id "
            "AND l.role IN ('bot', 'agent', 'system')) ORDER BY t.turn_id",
            (*channels, cutoff),
        ).fetchall()
        turns = [_turn(r) for r in rows]
        for turn in turns:
            self._append(turn.conversation_id, "system", "not answered: the server stopped before replying",
                         {"event": "unanswered", "turn_id": turn.turn_id}, in_reply_to=turn.turn_id)
        return turns

    def _unanswered(self, limit: int) -> list[tuple[Conversation, StoredTurn]]:
        rows = self.db.execute(
            "SELECT t.turn_id, t.conversation_id, t.role, t.text, t.created_at, t.payload FROM turns m "
            "JOIN turns t ON t.turn_id = m.in_reply_to "
            "WHERE m.role = 'system' AND json_extract(m.payload, '$.event') = 'unanswered' "
            "AND NOT EXISTS (SELECT 1 FROM turns l WHERE l.conversation_id = m.conversation_id AND l.turn_id > m.turn_id "
            "AND l.role IN ('bot', 'agent')) ORDER BY m.turn_id LIMIT ?",
            (limit,),
        ).fetchall()
        return [(self._get(r[1]), _turn(r)) for r in rows]

    def _history(self, conversation_id: str, limit: int | None) -> list[StoredTurn]:
        self._get(conversation_id)
        rows = self.db.execute(
            "SELECT turn_id, conversation_id, role, text, created_at, payload FROM turns WHERE conversation_id = ?"
            " ORDER BY turn_id DESC LIMIT ?",
            (conversation_id, -1 if limit is None else limit),
        ).fetchall()
        return [_turn(r) for r in reversed(rows)]

    def _set_owner(self, conversation_id: str, owner: str, reason: str) -> Conversation:
        self._get(conversation_id)
        if owner == "human":
            self.db.execute(
                "UPDATE conversations SET owner = 'human', handoff_reason = ?, handoff_at = COALESCE(handoff_at, ?)"
                " WHERE conversation_id = ?",
                (reason, utcnow().isoformat(), conversation_id),
            )
        else:
            self.db.execute(
                "UPDATE conversations SET owner = 'bot', handoff_reason = '', handoff_at = NULL WHERE conversation_id = ?",
                (conversation_id,),
            )
        return self._get(conversation_id)

    def _set_slots(self, conversation_id: str, slots_json: str) -> Conversation:
        self._get(conversation_id)
        self.db.execute("UPDATE conversations SET slots = ? WHERE conversation_id = ?", (slots_json, conversation_id))
        return self._get(conversation_id)

    def _handoffs(self) -> list[Conversation]:
        rows = self.db.execute(
            f"SELECT {COLUMNS} FROM conversations WHERE owner = 'human' ORDER BY handoff_at, conversation_id"
        ).fetchall()
        return [_conversation(r) for r in rows]


def _turn(row: tuple) -> StoredTurn:
    return StoredTurn(row[0], row[1], row[2], row[3], datetime.fromisoformat(row[4]), json.loads(row[5]))


def _conversation(row: tuple) -> Conversation:
    return Conversation(
        row[0], row[1], row[2], datetime.fromisoformat(row[3]), row[4],
        updated_at=datetime.fromisoformat(row[5]) if row[5] else None,
        slots=Slots.from_dict(json.loads(row[6] or "{}")),
        handoff_reason=row[7] or "",
        handoff_at=datetime.fromisoformat(row[8]) if row[8] else None,
    )
