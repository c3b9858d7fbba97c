"""Abuse limits: token buckets keyed on what a client cannot choose (its address, a session the
server issued, an order number), behind one small interface.

`Limiter` is what the dialogue and the channels use; `MemoryLimiter` keeps the buckets in this
process (bounded: the least recently used keys are forgotten first, and a forgotten key starts with
a full bucket). A shared implementation (Redis) follows the same two methods.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Protocol

from core.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class Rule:
    """`burst` events at once, refilled at `rate` a second. Either <= 0: no limit."""

    burst: float
    rate: float

    @classmethod
    def per_minute(cls, per_minute: float, burst: float) -> "Rule":
        return cls(float(burst), per_minute / 60.0)

    @classmethod
    def per_window(cls, limit: float, seconds: float) -> "Rule":
        """At most `limit` in any `seconds` from a full bucket (e.g. 5 wrong e-mails an hour)."""
        return cls(float(limit), limit / seconds if seconds > 0 else 0.0)

    @property
    def enabled(self) -> bool:
        return self.burst > 0 and self.rate > 0


class Limiter(Protocol):
    def take(self, key: str, rule: Rule) -> float | None:
        """Count one event for `key`: None when allowed, else the seconds until one would be."""
        ...

    def blocked(self, key: str, rule: Rule) -> float | None:
        """Without counting: None when an event would be allowed now, else the seconds until then."""
        ...


class MemoryLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 200_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()  # the Rasa action server calls from its thread pool

    def _tokens(self, key: Hashable, rule: Rule, now: float) -> float:
        tokens, last = self._buckets.pop(key, (rule.burst, now))
        return min(rule.burst, tokens + (now - last) * rule.rate)

    def take(self, key: Hashable, rule: Rule) -> float | None:
        if not rule.enabled:
            return None
        with self._lock:
            now = self.clock()
            tokens = self._tokens(key, rule, now)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / rule.rate
            self._buckets[key] = (tokens - 1.0, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return None

    def blocked(self, key: Hashable, rule: Rule) -> float | None:
        if not rule.enabled:
            return None
        with self._lock:
            now = self.clock()
            tokens = self._tokens(key, rule, now)
            self._buckets[key] = (tokens, now)
            return None if tokens >= 1.0 else (1.0 - tokens) / rule.rate


class RateLimiter:
    """One rule over one limiter, for callers that want an error: `check` takes a token for `key`
    or raises TooManyRequests saying when to retry."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic, max_senders: int = 100_000,
                 *, limiter: Limiter | None = None, what: str = "messages") -> None:
        self.rule = Rule.per_minute(per_minute, burst)
        self.limiter = limiter or MemoryLimiter(clock, max_keys=max_senders)
        self.what = what

    @property
    def enabled(self) -> bool:
        return self.rule.enabled

    def check(self, key: Hashable) -> None:
        retry_after = self.limiter.take(key, self.rule)
        if retry_after is not None:
            raise TooManyRequests(f"too many {self.what}; please wait {retry_after:.0f} s and try again", retry_after)
