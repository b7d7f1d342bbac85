"""A circuit breaker per peer, so a dead peer costs one skipped call, not a deadline.

After ``failure_threshold`` consecutive failed exchanges (the caller decides
what counts: the fan-out counts transport failures, timeouts and 5xx, never
a 4xx about one patient) a peer's circuit opens: outbound matching skips it
until ``cool_down`` seconds have passed. Then the next exchange is a trial:
success closes the circuit, failure opens it for another cool-down. State
lives in memory, in an object the caller owns (one per running node), and
time comes from an injected monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_COOL_DOWN = 60.0


@dataclass(slots=True)
class _PeerState:
    consecutive_failures: int = 0
    open_until: float | None = None


class CircuitBreaker:
    """Consecutive-failure counts and open circuits, keyed by peer name."""

    def __init__(
        self,
        *,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        cool_down: float = DEFAULT_COOL_DOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cool_down < 0:
            raise ValueError("cool_down must not be negative")
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self._clock = clock
        self._states: dict[str, _PeerState] = {}

    def retry_in(self, peer: str) -> float | None:
        """Seconds until ``peer`` may be asked again, or None if it may be asked now."""
        state = self._states.get(peer)
        if state is None or state.open_until is None:
            return None
        remaining = state.open_until - self._clock()
        return remaining if remaining > 0 else None

    def consecutive_failures(self, peer: str) -> int:
        state = self._states.get(peer)
        return 0 if state is None else state.consecutive_failures

    def record_success(self, peer: str) -> None:
        self._states.pop(peer, None)

    def record_failure(self, peer: str) -> None:
        state = self._states.setdefault(peer, _PeerState())
        state.consecutive_failures += 1
        if state.consecutive_failures >= self.failure_threshold:
            state.open_until = self._clock() + self.cool_down
