"""Rate limits: token buckets per key, and the node's limits on failed authentication."""

from __future__ import annotations

import pytest

from mme_node.errors import TooManyRequests
from mme_node.security.ratelimit import AccessLimits, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_one_request_per_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(6, clock=clock)  # 6 per minute: one every 10 s
    assert [limiter.take("a") for _ in range(6)] == [0.0] * 6
    assert limiter.take("a") == pytest.approx(10.0)
    clock.now += 5
    assert limiter.wait("a") == pytest.approx(5.0)
    clock.now += 5
    assert limiter.take("a") == 0.0
    assert limiter.take("b") == 0.0  # another key has its own bucket


def test_zero_per_minute_is_no_limit() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.take("a") == 0.0 for _ in range(10_000))


def test_buckets_are_bounded_least_recently_used_first() -> None:
    clock = Clock()
    limiter = RateLimiter(1, clock=clock, max_keys=2)
    limiter.take("a")
    limiter.take("b")
    limiter.take("c")  # forgets "a": a fresh, full bucket next time
    assert limiter.take("a") == 0.0
    assert limiter.take("c") > 0


def test_an_address_that_failed_too_often_is_refused_whatever_it_sends() -> None:
    limits = AccessLimits.per_minute(failed_auth=2, match=0)
    limits.check_caller("10.0.0.1", "guess-1")
    for guess in ("guess-1", "guess-2"):
        limits.authentication_failed("10.0.0.1", guess, "GET", "/heartbeat", "unknown token")
    with pytest.raises(TooManyRequests) as raised:
        limits.check_caller("10.0.0.1", "a-valid-token")
    assert raised.value.status == 429
    assert raised.value.headers == {"Retry-After": "30"}
    limits.check_caller("10.0.0.2", "a-valid-token")


def test_a_token_that_failed_too_often_is_refused_from_any_address() -> None:
    limits = AccessLimits.per_minute(failed_auth=2, match=0)
    for address in ("10.0.0.1", "10.0.0.2"):
        limits.authentication_failed(address, "revoked-token", "GET", "/match", "token revoked")
    with pytest.raises(TooManyRequests, match="with this token"):
        limits.check_caller("10.0.0.3", "revoked-token")
    limits.check_caller("10.0.0.3", "another-token")
    # Only a digest of the token is kept.
    assert "revoked-token" not in str(limits.failed_auth_per_token._buckets)
