"""Rate limits: token buckets per key, and the node's limits on failed authentication."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mme_node.errors import TooManyRequests
from mme_node.security import buckets as buckets_module
from mme_node.security.buckets import BucketFile, _hash, layout_path
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
    limiter = RateLimiter(1, clock=clock, slots=2)
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
    (kept,) = tmp_path.glob("rate-limits.*")
    assert kept.stat().st_mode & 0o777 == 0o600
    assert b"revoked-token" not in kept.read_bytes() and b"10.0.0" not in kept.read_bytes()
    assert keys_in(kept) == 3  # two addresses and the token that failed; not 10.0.0.3
    limits.close()


def keys_in(path: Path) -> int:
    """How many buckets the file holds (slots with a key)."""
    table = path.read_bytes()[HEADER_BYTES:]
    return sum(1 for (key, _, _) in struct.iter_unpack("<Qdd", table) if key)


HEADER_BYTES = 32


def test_the_command_line_and_zero_limits_leave_no_file(tmp_path: Path) -> None:
    AccessLimits.per_minute(failed_auth=0, match=0, shared=tmp_path / "rate-limits").close()
    AccessLimits.per_minute(failed_auth=2, match=3).close()
    assert list(tmp_path.iterdir()) == []


LIMIT_ACROSS_PROCESSES = 20_000


def test_processes_sharing_the_file_admit_the_limit_once_between_them(tmp_path: Path) -> None:
    """Four processes of four threads spend one key's bucket at once: none is spent twice."""
    shared = tmp_path / "rate-limits"
    script = f"""
import sys, threading, time
from pathlib import Path
from mme_node.security.buckets import BucketFile, layout_path
from mme_node.security.ratelimit import RateLimiter
base, start_at = Path(sys.argv[1]), float(sys.argv[2])
buckets = BucketFile(layout_path(base, 1, 64), 1, 64)
limiter = RateLimiter({LIMIT_ACROSS_PROCESSES}, buckets, clock=lambda: 1000.0)  # no refill
admitted = []
def spend():
    tries = range({LIMIT_ACROSS_PROCESSES // 8})
    admitted.append(sum(limiter.take("peer-a") == 0.0 for _ in tries))
threads = [threading.Thread(target=spend) for _ in range(4)]
time.sleep(max(0.0, start_at - time.time()))  # all processes at once, started or not
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sum(admitted))
"""
    start_at = str(time.time() + 2.0)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(shared), start_at], stdout=subprocess.PIPE
        )
        for _ in range(4)
    ]
    admitted = [int(worker.communicate()[0]) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert sum(admitted) == LIMIT_ACROSS_PROCESSES, admitted  # of twice as many attempts


def test_a_file_from_another_boot_or_damaged_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "rate-limits"
    path = layout_path(base, 1, 16)
    clock = Clock()
    buckets = BucketFile(path, 1, 16)
    assert RateLimiter(1, buckets, clock=clock).take("a") == 0.0
    assert RateLimiter(1, buckets, clock=clock).take("a") > 0
    buckets.close()
    monkeypatch.setattr(buckets_module, "_boot_id", lambda: bytes(range(16)))  # rebooted
    after_reboot = BucketFile(path, 1, 16)
    assert RateLimiter(1, after_reboot, clock=clock).take("a") == 0.0
    after_reboot.close()
    path.write_bytes(b"\xff" * path.stat().st_size)  # garbage, header and all
    damaged = BucketFile(path, 1, 16)
    assert keys_in(path) == 0
    damaged.close()


def test_garbage_in_a_slot_counts_as_a_free_slot(tmp_path: Path) -> None:
    path = layout_path(tmp_path / "rate-limits", 1, 4)
    BucketFile(path, 1, 4).close()
    written = bytearray(path.read_bytes())
    for slot in range(4):  # every slot "a"'s, with no tokens ever again; or a NaN time
        time = math.nan if slot % 2 else 1000.0
        struct.pack_into("<Qdd", written, HEADER_BYTES + 24 * slot, _hash("a"), -math.inf, time)
    path.write_bytes(bytes(written))
    buckets = BucketFile(path, 1, 4)
    limits = RateLimiter(1, buckets, clock=Clock())
    assert limits.take("a") == 0.0
    assert limits.take("a") == pytest.approx(60.0)
    buckets.close()


def test_a_bucket_counted_in_the_future_is_full() -> None:
    """A time the monotonic clock has not reached (a clock that started again) is no count."""
    clock = Clock()
    buckets = BucketFile(None, tables=1, slots=16)
    assert RateLimiter(1, buckets, clock=clock).take("a") == 0.0
    clock.now = 5.0
    assert RateLimiter(1, buckets, clock=clock).take("a") == 0.0


def test_a_closed_table_refuses_nobody() -> None:
    """A request still at work when the node stops is not failed by the closed file."""
    buckets = BucketFile(None, tables=1, slots=16)
    limiter = RateLimiter(1, buckets, clock=Clock())
    assert limiter.take("a") == 0.0
    buckets.close()
    assert limiter.take("a") == 0.0
