"""Rate limits: failed authentications and ``/match``, each per token and per client address.

Token buckets shared by every serving process of the node
(:mod:`mme_node.security.buckets`, a file ``<data dir>/rate-limits.*``): a bucket holds up to
``per_minute`` requests and refills at ``per_minute / 60`` a second, so a
client may burst to the limit and then keep a steady rate. A client over a
limit gets :class:`~mme_node.errors.TooManyRequests` (429) with the seconds
until it may try again (``Retry-After``).

An address that failed authentication ``failed_auth_per_minute`` times is
refused before its token is even looked at, valid or not, until its bucket
refills: guessing tokens costs a minute per handful. So is a token (a revoked
one a client keeps retrying, from any address), counted under its SHA-256
digest so the token itself is never kept. Each failure is logged at warning
with the address, method, path and reason, never the token.

The limits are per node, whichever of ``mme-node serve --workers N``'s
processes a request lands on, and kept across restarts of the node (not of
the machine). The buckets are bounded in number: past about 10,000 keys in
one limit, a new key may take the place of the least recently used one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mme_node.errors import TooManyRequests
from mme_node.security.buckets import Bucket, BucketFile, layout_path
from mme_node.security.tokens import token_digest

log = logging.getLogger(__name__)

TABLE_SLOTS = 32_768
"""Buckets per limit: about 10,000 keys fit before any is forgotten (15,000: a few)."""


class RateLimiter:
    """Token buckets per key, in table ``table`` of ``buckets``; ``per_minute <= 0``: no limit.

    Without ``buckets``, the limiter has a table of ``slots`` buckets of its own,
    in its process's memory.
    """

    def __init__(
        self,
        per_minute: int,
        buckets: BucketFile | None = None,
        table: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        slots: int = TABLE_SLOTS,
    ) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60
        self._clock = clock
        self._buckets = buckets or BucketFile(None, 1, slots)
        self._table = table

    @property
    def unlimited(self) -> bool:
        return self.capacity <= 0

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a request left (0.0 when it has one now)."""
        if self.unlimited:
            return 0.0

        def look(bucket: Bucket | None) -> tuple[None, float]:
            # Nothing stored: a key without a bucket has a full one, and a key that only
            # ever waited (an address that never failed to authenticate) is not written.
            return None, 0.0 if bucket is None else self._until_one(self._refilled(bucket)[0])

        return self._buckets.update(self._table, key, look)

    def take(self, key: str) -> float:
        """Spend one request of ``key`` if it has one: 0.0, else the seconds to wait."""
        if self.unlimited:
            return 0.0

        def spend(bucket: Bucket | None) -> tuple[Bucket, float]:
            tokens, now = self._refilled(bucket)
            if tokens >= 1:
                return (tokens - 1, now), 0.0
            return (tokens, now), self._until_one(tokens)

        return self._buckets.update(self._table, key, spend)

    def _refilled(self, bucket: Bucket | None) -> Bucket:
        """The bucket as it is now: full when new, forgotten, or counted in the future."""
        now = self._clock()
        if bucket is None or bucket[1] > now:
            return self.capacity, now
        tokens, then = bucket
        return min(self.capacity, tokens + (now - then) * self.refill_per_second), now

    def _until_one(self, tokens: float) -> float:
        return 0.0 if tokens >= 1 else (1 - tokens) / self.refill_per_second


@dataclass
class AccessLimits:
    """The node's limits, in one bucket file for all of them (see :meth:`per_minute`)."""

    failed_auth_per_address: RateLimiter
    failed_auth_per_token: RateLimiter
    match_per_token: RateLimiter
    match_per_address: RateLimiter
    sign_in_starts_per_address: RateLimiter
    buckets: BucketFile

    @classmethod
    def per_minute(cls, failed_auth: int, match: int, shared: Path | None = None) -> AccessLimits:
        """Limits whose buckets are in a file beside ``shared`` (``<data dir>/rate-limits``,
        see :func:`~mme_node.security.buckets.layout_path`), so that every serving process
        counts against the same ones; None: this process's own (the command line)."""
        tables = 5
        if shared is not None and max(failed_auth, match) > 0:
            buckets = BucketFile(layout_path(shared, tables, TABLE_SLOTS), tables, TABLE_SLOTS)
        else:
            buckets = BucketFile(None, tables, TABLE_SLOTS)
        return cls(
            failed_auth_per_address=RateLimiter(failed_auth, buckets, 0),
            failed_auth_per_token=RateLimiter(failed_auth, buckets, 1),
            match_per_token=RateLimiter(match, buckets, 2),
            match_per_address=RateLimiter(match, buckets, 3),
            sign_in_starts_per_address=RateLimiter(failed_auth, buckets, 4),
            buckets=buckets,
        )

    def close(self) -> None:
        self.buckets.close()

    def check_caller(self, address: str, token: str | None) -> None:
        """Refuse an address, or a token, that failed authentication too often lately."""
        wait = self.failed_auth_per_address.wait(address)
        if wait > 0:
            raise _too_many("too many failed authentications from your address", wait)
        if token:
            wait = self.failed_auth_per_token.wait(token_digest(token))
            if wait > 0:
                raise _too_many("too many failed authentications with this token", wait)

    def authentication_failed(
        self, address: str, token: str | None, method: str, path: str, reason: str
    ) -> None:
        """Count one failure against ``address`` and ``token``, and log it without the token.

        ``reason`` must not hold the token either.
        """
        log.warning("failed authentication from %s on %s %s: %s", address, method, path, reason)
        self.failed_auth_per_address.take(address)
        if token:
            self.failed_auth_per_token.take(token_digest(token))

    def admit_sign_in_start(self, address: str) -> None:
        """Spend one institutional sign-in start of the address (each stores a row), or refuse."""
        wait = self.sign_in_starts_per_address.take(address)
        if wait > 0:
            raise _too_many("too many sign-ins started from your address", wait)

    def admit_match(self, client: str, address: str) -> None:
        """Spend one ``/match`` of the token's client and of the address, or refuse."""
        wait = self.match_per_token.take(client)
        if wait > 0:
            raise _too_many(f"too many match requests for client {client!r}", wait)
        wait = self.match_per_address.take(address)
        if wait > 0:
            raise _too_many("too many match requests from your address", wait)


def _too_many(what: str, wait: float) -> TooManyRequests:
    seconds = max(1, math.ceil(wait))
    return TooManyRequests(f"{what}; try again in {seconds} s", retry_after=seconds)
