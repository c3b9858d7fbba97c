"""One SQLite connection on one dedicated thread, shared by the conversation store and the sample
store back end: SQLite serialises writers anyway, and the event loop never waits on disk."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.errors import StorageError


class SQLiteWorker:
    """Subclasses set `name`, implement `_setup(db)` (schema, migrations, seed), and run every
    database call through `await self._run(fn, *args)`; sqlite3 errors become StorageError."""

    name = "database"
    pragmas: tuple[str, ...] = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON")

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn, *args):
        if self._executor is None:
            raise StorageError(f"{self.name} is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.name} {self.path}: {exc}", path=str(self.path)) from exc

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name.replace(" ", "-"))
        try:
            await self._run(self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        for pragma in self.pragmas:
            db.execute(pragma)
        self._db = db
        self._setup(db)

    def _setup(self, db: sqlite3.Connection) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Idempotent, also when two shutdown paths call it at once."""
        executor = self._executor
        if executor is None:
            return
        if self._db is not None:
            db, self._db = self._db, None
            await self._run(db.close)
        self._executor = None
        executor.shutdown(wait=True)

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, f"{self.name} is not open"
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on the worker thread; any exception rolls back."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
