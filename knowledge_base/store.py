"""The passage store: SQLite holds documents, passages and their embeddings, and is the source of truth.

The FAISS file beside it is a cache of the embeddings, stamped with the store's generation; a crash
or a full disk between the two writes leaves a stale cache that is rebuilt from SQLite on load,
never a corrupt index.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from core.errors import IndexNotFound, StorageError
from core.types import Passage

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source_path TEXT NOT NULL,
    checksum TEXT NOT NULL,
    title TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    language TEXT NOT NULL,
    ingested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS passages (
    passage_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    title_path TEXT NOT NULL,
    text TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    language TEXT NOT NULL,
    metadata TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_by_doc ON passages(doc_id);
"""


@dataclass(frozen=True, slots=True)
class StoredDocument:
    doc_id: str
    source_path: str
    checksum: str


class PassageStore:
    FILENAME = "passages.sqlite3"

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / self.FILENAME
        self._db: sqlite3.Connection | None = None

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def open(self, create: bool = False) -> "PassageStore":
        if not create and not self.exists:
            raise IndexNotFound(
                f"no index at {self.path.parent}: run `python -m bot ingest PATH...` first", path=str(self.path.parent)
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open passage store {self.path}: {exc}", path=str(self.path)) from exc
        self._db = db
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.open()
        assert self._db is not None
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: a failed write (a full disk, say) rolls back and leaves the last good index."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:  # locked by another writer, or unwritable: nothing to roll back
            raise StorageError(f"cannot write the index at {self.path}: {exc}", path=str(self.path)) from exc
        try:
            yield db
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '1')")
            db.execute("COMMIT")
        except BaseException as exc:
            db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"index update failed and was rolled back: {exc}", path=str(self.path)) from exc
            raise

    # ------------------------------------------------------------ reads

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def documents(self) -> dict[str, StoredDocument]:
        rows = self.db.execute("SELECT doc_id, source_path, checksum FROM documents")
        return {r[0]: StoredDocument(*r) for r in rows}

    def passages(self) -> list[Passage]:
        rows = self.db.execute(
            "SELECT passage_id, doc_id, title, title_path, text, doc_type, language, metadata"
            " FROM passages ORDER BY passage_id"
        )
        return [
            Passage(
                passage_id=r[0],
                doc_id=r[1],
                title=r[2],
                title_path=tuple(json.loads(r[3])),
                text=r[4],
                doc_type=r[5],
                language=r[6],
                metadata=json.loads(r[7]),
            )
            for r in rows
        ]

    def embeddings(self, dimension: int) -> tuple[np.ndarray, np.ndarray]:
        ids, vectors = [], []
        for passage_id, blob in self.db.execute("SELECT passage_id, embedding FROM passages ORDER BY passage_id"):
            ids.append(passage_id)
            vectors.append(np.frombuffer(blob, dtype=np.float32))
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, dimension), dtype=np.float32)
        return np.asarray(ids, dtype=np.int64), np.vstack(vectors)

    # ------------------------------------------------------------ writes (inside transaction())

    @staticmethod
    def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    @staticmethod
    def delete_document(db: sqlite3.Connection, doc_id: str) -> list[int]:
        ids = [r[0] for r in db.execute("SELECT passage_id FROM passages WHERE doc_id = ?", (doc_id,))]
        db.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return ids

    @staticmethod
    def insert_document(
        db: sqlite3.Connection,
        doc: StoredDocument,
        title: str,
        doc_type: str,
        language: str,
        passages: Sequence[tuple[tuple[str, ...], str, dict]],
        embeddings: np.ndarray,
    ) -> None:
        db.execute(
            "INSERT INTO documents(doc_id, source_path, checksum, title, doc_type, language) VALUES (?, ?, ?, ?, ?, ?)",
            (doc.doc_id, doc.source_path, doc.checksum, title, doc_type, language),
        )
        db.executemany(
            "INSERT INTO passages(doc_id, position, title, title_path, text, doc_type, language, metadata, embedding)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    doc.doc_id,
                    position,
                    title,
                    json.dumps(list(title_path), ensure_ascii=False),
                    text,
                    doc_type,
                    language,
                    json.dumps(metadata, ensure_ascii=False),
                    np.asarray(vector, dtype=np.float32).tobytes(),
                )
                for position, ((title_path, text, metadata), vector) in enumerate(zip(passages, embeddings))
            ],
        )
