from __future__ import annotations

import pytest

from core.limits import RateLimiter
from core.errors import TooManyRequests


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_burst_then_too_many_requests(clock):
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        limiter.check("alice")
    with pytest.raises(TooManyRequests) as info:
        limiter.check("alice")
    err = info.value
    assert err.http_status == 429
    assert err.retry_after == pytest.approx(1.0)  # 60 a minute: one token a second
    assert err.details == {"retry_after_seconds": 1.0}
    assert err.to_wire()["error"] == "too_many_requests"


def test_retry_after_shrinks_as_time_passes(clock):
    limiter = RateLimiter(per_minute=6, burst=1, clock=clock)  # one token every 10 s
    limiter.check("a")
    with pytest.raises(TooManyRequests) as first:
        limiter.check("a")
    assert first.value.retry_after == pytest.approx(10.0)
    clock.advance(4)
    with pytest.raises(TooManyRequests) as later:
        limiter.check("a")
    assert later.value.retry_after == pytest.approx(6.0)
    clock.advance(6)
    limiter.check("a")


def test_refill_over_time(clock):
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    limiter.check("a")
    limiter.check("a")
    clock.advance(0.5)
    with pytest.raises(TooManyRequests):
        limiter.check("a")
    clock.advance(0.5)
    limiter.check("a")  # one token back after a second
    with pytest.raises(TooManyRequests):
        limiter.check("a")


def test_refill_is_capped_at_burst(clock):
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    limiter.check("a")
    clock.advance(3600)
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(TooManyRequests):
        limiter.check("a")


def test_keys_are_independent(clock):
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock)
    limiter.check(("web", "alice"))
    with pytest.raises(TooManyRequests):
        limiter.check(("web", "alice"))
    limiter.check(("web", "bob"))
    limiter.check(("whatsapp", "alice"))


@pytest.mark.parametrize("per_minute, burst", [(0, 5), (60, 0)])
def test_zero_disables(clock, per_minute, burst):
    limiter = RateLimiter(per_minute=per_minute, burst=burst, clock=clock)
    assert limiter.enabled is False
    for _ in range(1000):
        limiter.check("a")
    assert len(limiter.limiter._buckets) == 0


def test_enabled(clock):
    assert RateLimiter(per_minute=30, burst=5, clock=clock).enabled is True


def test_memory_is_bounded_and_oldest_forgotten(clock):
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock, max_senders=2)
    limiter.check("a")
    limiter.check("b")
    limiter.check("c")  # "a" is the least recently seen: forgotten
    assert list(limiter.limiter._buckets) == ["b", "c"]
    limiter.check("a")  # a forgotten sender starts with a full bucket
    with pytest.raises(TooManyRequests):
        limiter.check("c")  # "c" is still remembered (and "b" was forgotten for "a")
    assert set(limiter.limiter._buckets) == {"a", "c"}


def test_recently_seen_sender_is_kept(clock):
    limiter = RateLimiter(per_minute=60, burst=5, clock=clock, max_senders=2)
    limiter.check("a")
    limiter.check("b")
    limiter.check("a")  # "a" is now the most recent
    limiter.check("c")
    assert list(limiter.limiter._buckets) == ["a", "c"]


def test_many_senders_stay_within_bound(clock):
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock, max_senders=50)
    for i in range(1000):
        limiter.check(f"sender-{i}")
    assert len(limiter.limiter._buckets) == 50


def test_a_window_rule_allows_its_limit_then_blocks_until_it_refills(clock):
    from core.limits import MemoryLimiter, Rule

    limiter, rule = MemoryLimiter(clock), Rule.per_window(5, 3600)
    assert [limiter.take("order:12345", rule) for _ in range(5)] == [None] * 5
    assert limiter.blocked("order:12345", rule) == pytest.approx(720.0)  # one more in 12 minutes
    assert limiter.take("order:12345", rule) == pytest.approx(720.0)
    assert limiter.blocked("order:99999", rule) is None  # other keys are not affected
    clock.advance(720)
    assert limiter.blocked("order:12345", rule) is None
