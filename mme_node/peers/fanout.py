"""Ask every peer about one patient at once; collect each peer's answer or error.

The fan-out takes as long as the slowest peer, bounded by that peer's
deadline, not the sum of them. A peer whose circuit is open is not asked at
all. Whatever one peer does (or a bug in handling its answer), the others'
outcomes come back intact, in the order the peers were given.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import httpx

from mme_node.formats.schemas import dump_patient
from mme_node.model import Patient
from mme_node.peers.breaker import CircuitBreaker
from mme_node.peers.client import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_RETRY,
    PeerError,
    PeerOutcome,
    RetryPolicy,
    ask_peer,
    match_request_body,
)
from mme_node.peers.registry import Peer

logger = logging.getLogger(__name__)


async def match_peers(
    peers: Sequence[Peer],
    *,
    shown: Mapping[str, Patient],
    client: httpx.AsyncClient | None = None,
    breaker: CircuitBreaker | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    retry: RetryPolicy = DEFAULT_RETRY,
    rng: random.Random | None = None,
) -> list[PeerOutcome]:
    """Send every one of ``peers`` its view of a patient concurrently; one outcome per peer.

    ``shown`` gives, by peer name, the patient as that peer may see it (its
    pseudonym, what its policy and the consent allow). A peer not in it is
    sent nothing: its outcome is a ``not-shared`` error (logged), so that a
    caller's slip never sends a stored patient as it is.

    Every other peer given is asked, enabled or not: the caller chooses
    (usually :meth:`PeerRegistry.enabled`). Each peer gets its view in its
    own API version. Without ``client`` a fresh one is used (TLS verified, no
    redirects); a shared client reuses connections across calls. With a
    ``breaker``, outcomes are recorded in it (only transport failures,
    timeouts and 5xx count against a peer) and open circuits are skipped.
    """
    bodies = {
        (peer.name, peer.api_version): match_request_body(
            dump_patient(shown[peer.name], peer.api_version)
        )
        for peer in peers
        if peer.name in shown
    }

    async def ask_all(http: httpx.AsyncClient) -> list[PeerOutcome]:
        asks = (
            _ask(
                http,
                peer,
                bodies[peer.name, peer.api_version],
                breaker,
                max_response_bytes,
                retry,
                rng,
            )
            if peer.name in shown
            else _nothing_disclosed(peer)
            for peer in peers
        )
        return list(await asyncio.gather(*asks))

    if client is not None:
        return await ask_all(client)
    async with httpx.AsyncClient(follow_redirects=False) as own_client:
        return await ask_all(own_client)


async def _ask(
    client: httpx.AsyncClient,
    peer: Peer,
    body: bytes,
    breaker: CircuitBreaker | None,
    max_response_bytes: int,
    retry: RetryPolicy,
    rng: random.Random | None,
) -> PeerOutcome:
    retry_in = breaker.retry_in(peer.name) if breaker else None
    if breaker is not None and retry_in is not None:
        outcome = PeerOutcome(
            peer.name, error=_circuit_open(breaker.consecutive_failures(peer.name), retry_in)
        )
    else:
        try:
            outcome = await ask_peer(
                client, peer, body, max_response_bytes=max_response_bytes, retry=retry, rng=rng
            )
        except Exception:
            # A bug in handling one answer must not cost the other peers' answers.
            logger.exception("peer %s: unexpected error while matching", peer.name)
            outcome = PeerOutcome(
                peer.name, error=PeerError("internal", "unexpected error; see the server log")
            )
        if breaker is not None:
            if outcome.error is None:
                breaker.record_success(peer.name)
            elif outcome.error.is_peer_failure:
                breaker.record_failure(peer.name)
    _log(outcome)
    return outcome


async def _nothing_disclosed(peer: Peer) -> PeerOutcome:
    outcome = PeerOutcome(
        peer.name, error=PeerError("not-shared", "not asked: no view of the patient for this peer")
    )
    _log(outcome)
    return outcome


def _circuit_open(failures: int, retry_in: float) -> PeerError:
    until = datetime.now(UTC) + timedelta(seconds=retry_in)
    return PeerError(
        "circuit-open",
        f"not asked: {failures} consecutive failures; circuit open until "
        f"{until:%Y-%m-%dT%H:%M:%SZ} (another {math.ceil(retry_in)} s)",
    )


def _log(outcome: PeerOutcome) -> None:
    if outcome.error is None:
        logger.info(
            "peer %s: %d results in %.0f ms",
            outcome.peer,
            len(outcome.results),
            outcome.elapsed_ms,
        )
    else:
        logger.warning(
            "peer %s: %s after %.0f ms: %s",
            outcome.peer,
            outcome.error.kind,
            outcome.elapsed_ms,
            outcome.error.message,
        )
