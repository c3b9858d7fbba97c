"""Generation under concurrency: one generation thread, a model lock held while tokens stream (as the
real generator holds it), and customers who arrive together, a generator that hangs or raises, and
deadlines. Every wait in these tests is bounded, so a deadlock fails the test instead of hanging it."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fakes import LockingGenerator

from answering.grounding import GroundingStats
from answering.phrasing import ReplyWriter
from answering.writing import DialogueWriter
from core.budget import Deadline, SkipCounters
from core.types import Reply, Source

PASSAGE = "Returns. You can return most items within 30 days of delivery for a full refund. Items must be unused."
ANSWER = "You can return most items within 30 days of delivery for a full refund."
EXTRACTIVE = Reply(ANSWER, (Source("policies/returns.md", "Returns", PASSAGE, 1.0),), 0.9, "answer")
BOUND = 20.0  # seconds: far beyond any correct run, short enough to fail a deadlock quickly


@pytest.fixture
def one_thread():
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generation")
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


def writer_for(generator, executor, **options) -> DialogueWriter:
    return DialogueWriter(ReplyWriter(generator, stats=GroundingStats()), executor, **options)


async def bounded(*calls):
    return await asyncio.wait_for(asyncio.gather(*calls), BOUND)


async def test_concurrent_generations_on_one_thread_all_finish(one_thread):
    # Before: each next() of a paused stream was its own job on the one generation thread, and a second
    # stream's first job waited on the lock the first stream held: two customers, no reply, ever.
    generator = LockingGenerator()
    writer = writer_for(generator, one_thread, max_waiting=8)
    deltas: list[list[str]] = [[] for _ in range(6)]

    def collector(i):
        async def on_delta(text):
            deltas[i].append(text)
        return on_delta

    replies = await bounded(*(writer.answer("Can I return it?", EXTRACTIVE, collector(i)) for i in range(6)))
    assert generator.calls == 6
    for reply, streamed in zip(replies, deltas):
        assert reply.metadata["phrasing"]["generated"] and "30 days" in reply.text
        assert "".join(streamed) == reply.text
    assert not generator.lock.locked()


async def test_a_busy_generator_is_skipped_not_queued(one_thread):
    generator = LockingGenerator(seconds_per_piece=0.02)
    skips = SkipCounters()
    writer = writer_for(generator, one_thread, skips=skips)  # max_waiting 0: only an idle generator is used
    replies = await bounded(*(writer.answer("Can I return it?", EXTRACTIVE) for _ in range(4)))
    generated = [r for r in replies if r.metadata["phrasing"]["generated"]]
    assert len(generated) == 1 and generator.calls == 1
    assert all(r.text == ANSWER for r in replies if r not in generated)  # the extractive answer, at once
    assert skips.snapshot()["phrasing"] == {"ran": 1, "busy": 3}


async def test_a_hanging_generator_is_abandoned_at_the_deadline_and_released(one_thread):
    generator = LockingGenerator(hang=True)
    skips = SkipCounters()
    writer = writer_for(generator, one_thread, skips=skips)
    started = time.monotonic()
    reply = await bounded(writer.answer("Can I return it?", EXTRACTIVE, deadline=Deadline.after(0.3)))
    assert time.monotonic() - started < 2.0
    assert reply[0].text == ANSWER and reply[0].metadata["phrasing"] == {"generated": False, "replaced": False}
    assert skips.snapshot()["phrasing"]["deadline"] == 1
    # The abandoned stream was cancelled: the lock is free and the next customer is phrased.
    for _ in range(200):
        if not generator.lock.locked():
            break
        await asyncio.sleep(0.01)
    assert not generator.lock.locked() and generator.cancelled == 1
    generator.hang = False
    [again] = await bounded(writer.answer("Can I return it?", EXTRACTIVE, deadline=Deadline.after(5)))
    assert again.metadata["phrasing"]["generated"]


async def test_a_widget_deadline_counts_to_the_first_visible_text(one_thread):
    generator = LockingGenerator(hang=True)
    writer = writer_for(generator, one_thread)
    started = time.monotonic()
    # 20 s for the whole reply, but nothing visible within 0.2 s: the extractive reply goes out then.
    [reply] = await bounded(writer.answer("Can I return it?", EXTRACTIVE, deadline=Deadline.after(20, first_visible=0.2)))
    assert time.monotonic() - started < 2.0 and reply.text == ANSWER


async def test_a_generator_that_raises_leaves_the_extractive_reply_and_others_unharmed(one_thread):
    failing = LockingGenerator(fail=True)
    writer = writer_for(failing, one_thread, max_waiting=8)
    replies = await bounded(*(writer.answer("Can I return it?", EXTRACTIVE) for _ in range(3)))
    assert all(r.text == ANSWER and not r.metadata["phrasing"]["generated"] for r in replies)
    assert not failing.lock.locked()


async def test_generation_that_would_not_fit_the_budget_is_skipped(one_thread):
    generator = LockingGenerator(seconds_per_piece=0.02)  # about 0.3 s a reply
    skips = SkipCounters()
    writer = writer_for(generator, one_thread, skips=skips)
    [first] = await bounded(writer.answer("Can I return it?", EXTRACTIVE, deadline=Deadline.after(5)))
    assert first.metadata["phrasing"]["generated"]
    # Measured once at ~0.3 s: a reply due in 0.1 s is not attempted at all.
    [second] = await bounded(writer.answer("Can I return it?", EXTRACTIVE, deadline=Deadline.after(0.1)))
    assert second.text == ANSWER and generator.calls == 1
    assert skips.snapshot()["phrasing"]["budget"] == 1


async def test_phrasing_answers_can_be_turned_off_while_fallbacks_are_still_written(one_thread):
    generator = LockingGenerator("I couldn't find that in our store's information. ",
                                 "Would you like me to connect you with a person from our support team?")
    writer = writer_for(generator, one_thread, phrase_answers=False)
    [answer] = await bounded(writer.answer("Can I return it?", EXTRACTIVE))
    assert answer is EXTRACTIVE and generator.calls == 0
    [fallback] = await bounded(writer.fallback("Do you sell helicopters?", Reply("not found", (), 0.1, "not_sure")))
    assert fallback is not None and fallback.metadata["phrasing"]["generated"] and generator.calls == 1


async def test_cancel_all_stops_generations_in_flight(one_thread):
    generator = LockingGenerator(hang=True)
    writer = writer_for(generator, one_thread)
    task = asyncio.ensure_future(writer.answer("Can I return it?", EXTRACTIVE))
    for _ in range(200):
        if generator.calls:
            break
        await asyncio.sleep(0.01)
    writer.cancel_all()
    [reply] = await bounded(task)
    assert reply.text == ANSWER and generator.cancelled == 1


async def test_generation_is_shed_while_the_answer_pipeline_has_a_backlog(one_thread):
    generator = LockingGenerator()
    skips = SkipCounters()
    backlog = {"questions": 12}
    writer = writer_for(generator, one_thread, skips=skips, under_load=lambda: backlog["questions"] >= 8)
    [shed] = await bounded(writer.answer("Can I return it?", EXTRACTIVE))
    assert shed.text == ANSWER and generator.calls == 0 and skips.snapshot()["phrasing"]["load"] == 1
    backlog["questions"] = 0
    [phrased] = await bounded(writer.answer("Can I return it?", EXTRACTIVE))
    assert phrased.metadata["phrasing"]["generated"] and generator.calls == 1


async def test_a_writer_that_breaks_outside_its_guard_costs_only_the_phrasing(one_thread):
    class Broken(ReplyWriter):
        def stream_answer(self, *args, **kwargs):
            raise MemoryError("no memory for the prompt")

    skips = SkipCounters()
    writer = DialogueWriter(Broken(LockingGenerator(), stats=GroundingStats()), one_thread, skips=skips)
    [reply] = await bounded(writer.answer("Can I return it?", EXTRACTIVE))
    assert reply.text == ANSWER and skips.snapshot()["phrasing"]["failed"] == 1
