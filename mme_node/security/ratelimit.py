"""Rate limits: failed authentications and ``/match``, each per token and per client address.

Token buckets kept in memory by each serving process: a bucket holds up to
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

The limits are per process (``mme-node serve --workers N`` multiplies
them by N) and forgotten on restart; the buckets are bounded in number, the
least recently used forgotten first.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from mme_node.errors import TooManyRequests
from mme_node.security.tokens import token_digest

log = logging.getLogger(__name__)

MAX_TRACKED_KEYS = 10_000


class RateLimiter:
    """Token buckets per key; ``per_minute <= 0`` means no limit."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, time

    @property
    def unlimited(self) -> bool:
        return self.capacity <= 0

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a request left (0.0 when it has one now)."""
        if self.unlimited:
            return 0.0
        tokens = self._tokens(key)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.refill_per_second

    def take(self, key: str) -> float:
        """Spend one request of ``key`` if it has one: 0.0, else the seconds to wait."""
        if self.unlimited:
            return 0.0
        tokens = self._tokens(key)
        if tokens < 1:
            return (1 - tokens) / self.refill_per_second
        self._buckets[key] = (tokens - 1, self._clock())
        return 0.0

    def _tokens(self, key: str) -> float:
        now = self._clock()
        tokens, then = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.refill_per_second)
        self._buckets[key] = (tokens, now)  # most recently used last
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return tokens


@dataclass
class AccessLimits:
    """The node's limits; one per serving process."""

    failed_auth_per_address: RateLimiter
    failed_auth_per_token: RateLimiter
    match_per_token: RateLimiter
    match_per_address: RateLimiter
    sign_in_starts_per_address: RateLimiter

    @classmethod
    def per_minute(cls, failed_auth: int, match: int) -> AccessLimits:
        return cls(
            RateLimiter(failed_auth),
            RateLimiter(failed_auth),
            RateLimiter(match),
            RateLimiter(match),
            RateLimiter(failed_auth),
        )

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
