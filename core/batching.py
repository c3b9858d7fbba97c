"""Micro-batching of model calls: concurrent questions share one forward pass on a bounded executor."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from typing import Callable, Generic, Sequence, TypeVar

from core.budget import Progress
from core.errors import BotError

log = logging.getLogger(__name__)
In = TypeVar("In")
Out = TypeVar("Out")


class Overloaded(BotError):
    http_status = 503
    code = "overloaded"


class MicroBatcher(Generic[In, Out]):
    """Collects submissions for up to `max_wait` seconds (or `max_batch` items), runs `fn` on the
    batch in `executor`, and resolves each caller's future. The event loop only ever awaits.

    `max_pending` bounds the queue: past it, callers get Overloaded (HTTP 503) at once instead of
    growing memory and latency without limit.
    """

    def __init__(
        self,
        fn: Callable[[Sequence[In]], Sequence[Out]],
        executor: Executor,
        max_batch: int = 16,
        max_wait: float = 0.004,
        max_pending: int = 256,
        progress: Progress | None = None,
    ) -> None:
        self.fn = fn
        self.executor = executor
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_pending = max_pending
        # Batches running, for the watchdog: one that never returns shows as a stall (its callers
        # gave up at their deadlines, the batch still holds a thread).
        self.progress = progress or Progress("batcher")
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]] | None = None
        self._worker: asyncio.Task | None = None
        self.batches = 0
        self.items = 0
        self._in_flight: list[asyncio.Future] = []

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Stop the worker; callers still waiting (queued or in flight) get Overloaded, not a hang."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        waiting = list(self._in_flight)
        while self._queue is not None and not self._queue.empty():
            waiting.append(self._queue.get_nowait()[1])
        self._in_flight = []
        for fut in waiting:
            if not fut.done():
                fut.set_exception(Overloaded("the bot is shutting down; please try again in a moment"))

    async def submit(self, item: In) -> Out:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        if self._queue.qsize() >= self.max_pending:
            raise Overloaded("the bot is busy right now; please try again in a moment")
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    @property
    def backlog(self) -> int:
        """Items queued and in flight."""
        return (self._queue.qsize() if self._queue is not None else 0) + len(self._in_flight)

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0 and self._queue.empty():
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), max(timeout, 0)))
                except asyncio.TimeoutError:
                    break
            live = [(item, fut) for item, fut in batch if not fut.done()]
            if not live:
                continue
            self._in_flight = [fut for _, fut in live]
            self.progress.started()
            try:
                results = await loop.run_in_executor(self.executor, self.fn, [item for item, _ in live])
            except Exception as exc:  # one bad batch fails its callers, never the worker
                log.exception("batch of %d failed", len(live))
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                self._in_flight = []
                continue
            finally:
                self.progress.finished()
            self._in_flight = []
            self.batches += 1
            self.items += len(live)
            for (_, fut), result in zip(live, results):
                if not fut.done():
                    fut.set_result(result)
