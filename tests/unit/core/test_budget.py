"""Reply deadlines, skip counters and the progress a watchdog reads, on an injected clock."""

from __future__ import annotations

from core.budget import Deadline, Progress, ReplyBudgets, SkipCounters


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_deadline_counts_down_and_expires():
    clock = Clock()
    deadline = Deadline.after(3.0, clock=clock)
    assert deadline.remaining() == 3.0 and not deadline.streams
    clock.now += 2.5
    assert abs(deadline.remaining() - 0.5) < 1e-9 and deadline.visible_remaining() == deadline.remaining()
    clock.now += 1.0
    assert deadline.expired()


def test_a_streaming_deadline_budgets_the_first_visible_text_separately():
    clock = Clock()
    deadline = Deadline.after(20.0, first_visible=1.0, clock=clock)
    assert deadline.streams and deadline.visible_remaining() == 1.0 and deadline.remaining() == 20.0
    # The first-visible budget never outlasts the whole reply's.
    assert Deadline.after(0.5, first_visible=1.0, clock=clock).visible_remaining() == 0.5


def test_budgets_per_channel_kind():
    clock = Clock()
    budgets = ReplyBudgets(rest=3.0, messaging=5.0, widget_first_visible=1.0, widget_reply=20.0)
    assert budgets.for_channel("rest", clock).remaining() == 3.0
    assert budgets.for_channel("telegram", clock).remaining() == 5.0
    web = budgets.for_channel("web", clock)
    assert web.visible_remaining() == 1.0 and web.remaining() == 20.0


def test_skip_counters_by_stage_and_reason():
    skips = SkipCounters()
    skips.ran("phrasing")
    skips.skipped("phrasing", "busy")
    skips.skipped("phrasing", "busy")
    skips.skipped("reader", "deadline")
    assert skips.snapshot() == {"phrasing": {"ran": 1, "busy": 2}, "reader": {"ran": 0, "deadline": 1}}


def test_progress_stalls_only_while_work_waits_without_finishing():
    clock = Clock()
    progress = Progress("answers", clock)
    clock.now += 50  # idle for a long time: not a stall
    assert progress.stalled_for() == 0.0
    progress.started()
    clock.now += 4
    assert progress.stalled_for() == 4 and progress.pending == 1
    progress.started()
    progress.finished()  # one finished: the stage moves
    clock.now += 1
    assert progress.stalled_for() == 1
    progress.finished()
    clock.now += 30
    assert progress.stalled_for() == 0.0 and progress.pending == 0
