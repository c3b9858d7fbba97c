from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.batching import MicroBatcher, Overloaded


@pytest.fixture
def executor():
    pool = ThreadPoolExecutor(max_workers=2)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


async def started(batcher: MicroBatcher) -> MicroBatcher:
    await batcher.start()
    return batcher


async def test_concurrent_submits_share_batches(executor):
    sizes: list[int] = []

    def double(items):
        sizes.append(len(items))
        return [i * 2 for i in items]

    batcher = await started(MicroBatcher(double, executor, max_batch=8, max_wait=0.05))
    try:
        results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(20))), 5)
    finally:
        await batcher.stop()
    assert results == [i * 2 for i in range(20)]  # every caller gets its own result
    assert sum(sizes) == 20
    assert len(sizes) < 20 and max(sizes) == 8 and all(s <= 8 for s in sizes)
    assert batcher.batches == len(sizes) and batcher.items == 20


async def test_lone_submit_is_not_held_back(executor):
    batcher = await started(MicroBatcher(lambda items: [i + 1 for i in items], executor, max_wait=0.01))
    try:
        assert await asyncio.wait_for(batcher.submit(1), 2) == 2
    finally:
        await batcher.stop()


async def test_failing_batch_fails_its_callers_and_the_batcher_keeps_serving(executor):
    def fn(items):
        if "bad" in items:
            raise ValueError("bad input")
        return [s.upper() for s in items]

    batcher = await started(MicroBatcher(fn, executor, max_batch=16, max_wait=0.05))
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(batcher.submit("bad"), batcher.submit("ok"), return_exceptions=True), 2
        )
        assert all(isinstance(o, ValueError) for o in outcomes)  # they shared the failing batch
        assert await asyncio.wait_for(batcher.submit("fine"), 2) == "FINE"
        assert await asyncio.wait_for(asyncio.gather(*(batcher.submit(s) for s in ("a", "b"))), 2) == ["A", "B"]
    finally:
        await batcher.stop()


async def test_overloaded_when_max_pending_exceeded(executor):
    release = threading.Event()

    def slow(items):
        release.wait(5)
        return list(items)

    batcher = await started(MicroBatcher(slow, executor, max_batch=1, max_wait=0, max_pending=2))
    try:
        first = asyncio.create_task(batcher.submit("a"))
        await asyncio.sleep(0.05)  # the worker takes "a" and blocks in slow()
        queued = [asyncio.create_task(batcher.submit(x)) for x in ("b", "c")]
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as info:
            await asyncio.wait_for(batcher.submit("d"), 1)
        assert info.value.http_status == 503
        release.set()
        assert await asyncio.wait_for(asyncio.gather(first, *queued), 5) == ["a", "b", "c"]
        assert await batcher.submit("e") == "e"  # room again once the queue drains
    finally:
        release.set()
        await batcher.stop()


async def test_cancelled_caller_does_not_break_the_batch(executor):
    release = threading.Event()
    seen: list[list[str]] = []

    def fn(items):
        release.wait(5)
        seen.append(list(items))
        return list(items)

    batcher = await started(MicroBatcher(fn, executor, max_batch=1, max_wait=0))
    try:
        first = asyncio.create_task(batcher.submit("a"))
        await asyncio.sleep(0.05)
        doomed = asyncio.create_task(batcher.submit("b"))
        kept = asyncio.create_task(batcher.submit("c"))
        await asyncio.sleep(0.01)
        doomed.cancel()
        release.set()
        assert await asyncio.wait_for(first, 5) == "a"
        assert await asyncio.wait_for(kept, 5) == "c"
        assert ["b"] not in seen  # the cancelled item never reached the model
    finally:
        release.set()
        await batcher.stop()


async def test_submit_before_start_is_an_error(executor):
    with pytest.raises(RuntimeError):
        await MicroBatcher(lambda items: items, executor).submit(1)


async def test_stop_fails_waiting_callers_instead_of_hanging(executor):
    release = threading.Event()

    def slow(items):
        release.wait(5)
        return list(items)

    batcher = await started(MicroBatcher(slow, executor, max_batch=1, max_wait=0))
    try:
        first = asyncio.create_task(batcher.submit("a"))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(batcher.submit("b"))
        await asyncio.sleep(0.01)
        await batcher.stop()
        done, _ = await asyncio.wait({first, waiting}, timeout=0.3)
        if len(done) < 2:
            raise asyncio.TimeoutError("callers still waiting after stop()")
    finally:
        release.set()
        first.cancel()
        waiting.cancel()
