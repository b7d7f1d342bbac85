"""Rate limits: token buckets per key, and the node's limits on failed authentication."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mme_node.errors import TooManyRequests
from mme_node.security.buckets import BucketFile
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
    for key in ("a", "b", "c"):  # "c" forgets "a", used longest ago: a full bucket next time
        limiter.take(key)
        clock.now += 1
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


def test_a_token_that_failed_too_often_is_refused_from_any_address(tmp_path: Path) -> None:
    shared = tmp_path / "rate-limits"
    limits = AccessLimits.per_minute(failed_auth=2, match=0, shared=shared)
    for address in ("10.0.0.1", "10.0.0.2"):
        limits.authentication_failed(address, "revoked-token", "GET", "/match", "token revoked")
    with pytest.raises(TooManyRequests, match="with this token"):
        limits.check_caller("10.0.0.3", "revoked-token")
    limits.check_caller("10.0.0.3", "another-token")
    # Neither the token nor the addresses are in the file; their hashes are.
    assert shared.stat().st_mode & 0o777 == 0o600
    kept = shared.read_bytes()
    assert b"revoked-token" not in kept and b"10.0.0" not in kept
    assert kept.count(b"\0") < len(kept)


def test_processes_sharing_the_file_share_the_buckets(tmp_path: Path) -> None:
    shared = tmp_path / "rate-limits"
    here = AccessLimits.per_minute(failed_auth=2, match=3, shared=shared)
    for _ in range(2):
        here.admit_match("peer-a", "10.0.0.1")
    # Another process (a second worker) maps the same file and sees what is left.
    script = (
        "import sys; from pathlib import Path\n"
        "from mme_node.errors import TooManyRequests\n"
        "from mme_node.security.ratelimit import AccessLimits\n"
        "limits = AccessLimits.per_minute(2, 3, Path(sys.argv[1]))\n"
        "limits.admit_match('peer-a', '10.0.0.2')\n"
        "try:\n"
        "    limits.admit_match('peer-a', '10.0.0.2')\n"
        "except TooManyRequests as refused:\n"
        "    print(refused.message)\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", script, str(shared)], capture_output=True, text=True, check=True
    )
    assert "too many match requests for client 'peer-a'" in other.stdout
    with pytest.raises(TooManyRequests, match="for client 'peer-a'"):
        here.admit_match("peer-a", "10.0.0.1")
    here.close()


def test_a_file_of_another_layout_is_started_afresh(tmp_path: Path) -> None:
    shared = tmp_path / "rate-limits"
    shared.write_bytes(b"\xff" * 2_000_000)  # longer than the table: every slot garbage
    limits = AccessLimits.per_minute(failed_auth=2, match=1, shared=shared)
    limits.admit_match("peer-a", "10.0.0.1")  # garbage read as buckets would refuse this
    with pytest.raises(TooManyRequests):
        limits.admit_match("peer-a", "10.0.0.1")
    limits.close()


def test_a_bucket_counted_in_the_future_is_full(tmp_path: Path) -> None:
    """A file kept across a reboot holds times of the old boot's monotonic clock."""
    clock = Clock()
    shared = BucketFile(tmp_path / "rate-limits", tables=1, slots=16)
    before_reboot = RateLimiter(1, shared, clock=clock)
    assert before_reboot.take("a") == 0.0
    clock.now = 5.0  # the clock started again
    assert RateLimiter(1, shared, clock=clock).take("a") == 0.0
    shared.close()
