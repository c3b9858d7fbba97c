"""Per-sender token buckets: a customer (or a script) sending 20 messages a second is slowed down
without the bot slowing down for anyone else."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Hashable

from core.errors import TooManyRequests


class RateLimiter:
    """`burst` messages at once, refilled at `per_minute` a minute. Memory is bounded: the least
    recently seen senders are forgotten first (a forgotten sender simply starts with a full bucket)."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic, max_senders: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_senders = max_senders
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def check(self, key: Hashable) -> None:
        """Take one token for `key`, or raise TooManyRequests saying when to retry."""
        if not self.enabled:
            return
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            retry_after = (1.0 - tokens) / self.rate
            raise TooManyRequests(f"too many messages; please wait {retry_after:.0f} s and try again", retry_after)
        self._buckets[key] = (tokens - 1.0, now)
        while len(self._buckets) > self.max_senders:
            self._buckets.popitem(last=False)
