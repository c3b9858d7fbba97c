"""Time budgets for replies, load shedding, and the watchdog that notices a stuck answer pipeline.

Every customer message gets a `Deadline` when it arrives: REST and messaging channels budget the
whole reply, the widget budgets the first visible text (and has a hard limit for the rest). Stages
ask the deadline how much time is left and give up (never block) when it runs out: the customer then
gets the extractive reply, or an honest "that took too long" when even retrieval missed it.

What was skipped, and why, is counted in `SkipCounters` (shown in /health and read by the bench).
`Progress` records work started and finished by the answer pipeline's stages; the server's watchdog
turns /health to "degraded" when work is waiting and nothing has finished for a while.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a reply is due, on a monotonic clock. `first_visible_at` is set for streaming channels: the
    first text the customer sees is due then, the rest of the reply by `reply_at`."""

    reply_at: float
    first_visible_at: float | None = None
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(cls, seconds: float, *, first_visible: float | None = None, clock: Clock = time.monotonic) -> "Deadline":
        now = clock()
        return cls(now + seconds, None if first_visible is None else now + min(first_visible, seconds), clock)

    def remaining(self) -> float:
        """Seconds left for the whole reply (negative when late)."""
        return self.reply_at - self.clock()

    def visible_remaining(self) -> float:
        """Seconds left until the customer must see something: the first-visible budget when there is
        one, else the whole reply's."""
        due = self.first_visible_at if self.first_visible_at is not None else self.reply_at
        return due - self.clock()

    @property
    def streams(self) -> bool:
        return self.first_visible_at is not None

    def expired(self) -> bool:
        return self.remaining() <= 0


class SkipCounters:
    """How often a stage was skipped or abandoned, by stage and reason ("busy", "budget", "deadline",
    "failed"), and how often it ran. Thread-safe: stages count from worker threads too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ran: Counter[str] = Counter()
        self._skipped: Counter[tuple[str, str]] = Counter()

    def ran(self, stage: str) -> None:
        with self._lock:
            self._ran[stage] += 1

    def skipped(self, stage: str, reason: str) -> None:
        with self._lock:
            self._skipped[(stage, reason)] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            stages = sorted({*self._ran, *(s for s, _ in self._skipped)})
            return {
                stage: {"ran": self._ran[stage], **{r: n for (s, r), n in sorted(self._skipped.items()) if s == stage}}
                for stage in stages
            }


class Progress:
    """Work started and finished by one stage of the answer pipeline (a batcher, the generator).

    `stalled_for()` is how long work has been waiting without anything finishing: 0 when idle or
    moving. Only the event loop's thread and worker threads' `finished()` touch it; a lock keeps the
    two consistent."""

    def __init__(self, name: str, clock: Clock = time.monotonic) -> None:
        self.name = name
        self.clock = clock
        self._lock = threading.Lock()
        self._pending = 0
        self._last_progress = clock()

    def started(self) -> None:
        with self._lock:
            if self._pending == 0:
                self._last_progress = self.clock()  # an idle stage has not been stuck while idle
            self._pending += 1

    def finished(self) -> None:
        with self._lock:
            self._pending = max(0, self._pending - 1)
            self._last_progress = self.clock()

    @property
    def pending(self) -> int:
        return self._pending

    def stalled_for(self) -> float:
        with self._lock:
            return 0.0 if self._pending == 0 else max(0.0, self.clock() - self._last_progress)


@dataclass(frozen=True, slots=True)
class ReplyBudgets:
    """The reply deadlines per channel kind, from settings (seconds)."""

    rest: float = 3.0
    messaging: float = 5.0
    widget_first_visible: float = 1.0
    widget_reply: float = 20.0

    def for_channel(self, channel: str, clock: Clock = time.monotonic) -> Deadline:
        if channel == "web":
            return Deadline.after(self.widget_reply, first_visible=self.widget_first_visible, clock=clock)
        if channel == "rest":
            return Deadline.after(self.rest, clock=clock)
        return Deadline.after(self.messaging, clock=clock)
