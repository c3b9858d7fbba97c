from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from core.errors import IndexNotFound, StorageError
from knowledge_base.store import PassageStore, StoredDocument


def add_doc(store: PassageStore, doc_id: str, n: int = 2, dim: int = 4) -> None:
    with store.transaction() as db:
        store.insert_document(
            db,
            StoredDocument(doc_id, f"/src/{doc_id}", "sum"),
            doc_id.title(),
            "policy",
            "en",
            [((doc_id.title(), f"S{i}"), f"text {i}", {"i": i}) for i in range(n)],
            np.eye(n, dim, dtype=np.float32),
        )


def test_open_missing_store_without_create(tmp_path):
    with pytest.raises(IndexNotFound):
        PassageStore(tmp_path).open()


def test_roundtrip_and_generation(tmp_path):
    store = PassageStore(tmp_path).open(create=True)
    assert store.generation == 0
    add_doc(store, "a")
    add_doc(store, "b", n=1)
    assert store.generation == 2
    passages = store.passages()
    assert [(p.doc_id, p.title_path, p.text, p.metadata) for p in passages] == [
        ("a", ("A", "S0"), "text 0", {"i": 0}),
        ("a", ("A", "S1"), "text 1", {"i": 1}),
        ("b", ("B", "S0"), "text 0", {"i": 0}),
    ]
    ids, vectors = store.embeddings(4)
    assert ids.tolist() == [p.passage_id for p in passages]
    np.testing.assert_array_equal(vectors[1], [0, 1, 0, 0])
    assert set(store.documents()) == {"a", "b"}
    store.close()


def test_failed_transaction_rolls_back(tmp_path):
    store = PassageStore(tmp_path).open(create=True)
    add_doc(store, "a")
    with pytest.raises(StorageError):
        with store.transaction() as db:
            store.delete_document(db, "a")
            db.execute("INSERT INTO no_such_table VALUES (1)")
    assert [p.doc_id for p in store.passages()] == ["a", "a"]
    assert store.generation == 1
    store.close()


def test_non_sqlite_error_rolls_back_and_propagates(tmp_path):
    store = PassageStore(tmp_path).open(create=True)
    add_doc(store, "a")
    with pytest.raises(KeyError):
        with store.transaction() as db:
            store.delete_document(db, "a")
            raise KeyError("boom")
    assert len(store.passages()) == 2
    store.close()


def test_locked_store_is_a_storage_error(tmp_path):
    store = PassageStore(tmp_path).open(create=True)
    store.db.execute("PRAGMA busy_timeout = 0")  # fail at once instead of waiting 5 s for the lock
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError):
            with store.transaction():
                pass
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()
