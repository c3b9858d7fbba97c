"""Fixtures shared by the dialogue tests."""

from __future__ import annotations

import pytest

from bot.conversations import SQLiteConversationStore


@pytest.fixture
async def store(tmp_path):
    """The real SQLite conversation store, in a fresh file."""
    store = SQLiteConversationStore(tmp_path / "conversations.sqlite3")
    await store.open()
    yield store
    await store.close()
