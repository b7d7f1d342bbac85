"""Circuit breaker: opens after N consecutive failures, skips the peer, closes after cool-down."""

from __future__ import annotations

import asyncio

import pytest
from fault_peers import FaultPeerServer

from mme_node.model import Patient
from mme_node.peers import CircuitBreaker, Peer, PeerOutcome, RetryPolicy, match_peers

NO_RETRY = RetryPolicy(attempts=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, cool_down=60.0, clock=clock)


def test_breaker_stays_closed_below_the_threshold(breaker: CircuitBreaker) -> None:
    breaker.record_failure("alpha")
    breaker.record_failure("alpha")
    assert breaker.retry_in("alpha") is None


def test_breaker_opens_at_the_threshold_for_the_cool_down(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        breaker.record_failure("alpha")
    assert breaker.retry_in("alpha") == 60.0


def test_breaker_opens_per_peer(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        breaker.record_failure("alpha")
    assert breaker.retry_in("beta") is None


def test_success_resets_the_failure_count(breaker: CircuitBreaker) -> None:
    breaker.record_failure("alpha")
    breaker.record_failure("alpha")
    breaker.record_success("alpha")
    breaker.record_failure("alpha")
    assert breaker.retry_in("alpha") is None
    assert breaker.consecutive_failures("alpha") == 1


def test_breaker_allows_a_trial_after_the_cool_down(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(3):
        breaker.record_failure("alpha")
    clock.now += 60.0
    assert breaker.retry_in("alpha") is None


def test_failed_trial_reopens_for_a_full_cool_down(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(3):
        breaker.record_failure("alpha")
    clock.now += 61.0
    breaker.record_failure("alpha")
    assert breaker.retry_in("alpha") == 60.0


def test_breaker_refuses_a_threshold_below_one() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)


def ask(
    patient: Patient, server: FaultPeerServer, path: str, breaker: CircuitBreaker
) -> PeerOutcome:
    peer = server.peer(path, name="breaker-peer")
    [outcome] = asyncio.run(
        match_peers([peer], shown={peer.name: patient}, breaker=breaker, retry=NO_RETRY)
    )
    return outcome


def test_fan_out_skips_a_peer_after_three_failures(
    fault_peers: FaultPeerServer, local_patient: Patient, breaker: CircuitBreaker
) -> None:
    for _ in range(3):
        ask(local_patient, fault_peers, "count/breaker-skip/500", breaker)
    outcome = ask(local_patient, fault_peers, "count/breaker-skip/500", breaker)
    assert outcome.error is not None and outcome.error.kind == "circuit-open"
    assert "3 consecutive failures" in outcome.error.message
    assert "until" in outcome.error.message and "another 60 s" in outcome.error.message
    assert fault_peers.state.requests["breaker-skip"] == 3


def test_fan_out_asks_again_after_the_cool_down_and_success_closes(
    fault_peers: FaultPeerServer,
    local_patient: Patient,
    breaker: CircuitBreaker,
    clock: FakeClock,
) -> None:
    for _ in range(3):
        ask(local_patient, fault_peers, "count/breaker-close/503", breaker)
    clock.now += 60.0
    outcome = ask(local_patient, fault_peers, "healthy", breaker)
    assert outcome.error is None
    assert breaker.consecutive_failures("breaker-peer") == 0
    assert breaker.retry_in("breaker-peer") is None


@pytest.mark.parametrize("status", [400, 401, 422])
def test_a_peers_4xx_never_opens_the_circuit(
    fault_peers: FaultPeerServer, local_patient: Patient, breaker: CircuitBreaker, status: int
) -> None:
    """Three patients refused with 422 in a row must not block the next, valid one."""
    key = f"breaker-4xx-{status}"
    for _ in range(5):
        outcome = ask(local_patient, fault_peers, f"count/{key}/{status}", breaker)
        assert outcome.error is not None and outcome.error.kind == "http-status"
    assert breaker.retry_in("breaker-peer") is None
    assert fault_peers.state.requests[key] == 5


def test_refused_connections_count_as_failures(
    local_patient: Patient, refusing_peer: Peer, breaker: CircuitBreaker
) -> None:
    for _ in range(3):
        asyncio.run(
            match_peers(
                [refusing_peer],
                shown={refusing_peer.name: local_patient},
                breaker=breaker,
                retry=NO_RETRY,
            )
        )
    assert breaker.retry_in(refusing_peer.name) == 60.0
