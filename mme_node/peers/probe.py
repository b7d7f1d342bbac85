"""Checking the link to a peer: its ``/heartbeat``, and a test-patient ``/match``.

Used by ``mme-node doctor`` (is every enabled peer reachable?) and ``mme-node
peers test NAME`` (does a whole exchange work?). Like :func:`ask_peer`, a
probe never raises for anything the peer or the network does: the result
says what happened, in words an operator can act on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

import httpx

from mme_node import __version__
from mme_node.formats.schemas import dump_patient, load_patient
from mme_node.model import Contact, Patient
from mme_node.peers.client import PeerOutcome, ask_peer, match_request_body, media_type
from mme_node.peers.registry import Peer

MAX_HEARTBEAT_BYTES = 64 * 1024
PROBE_TIMEOUT = 10.0
TEST_PATIENT_ID = "P0000079"
"""The MME benchmark patient whose phenotypes and gene ``peers test`` sends: public test data."""


@dataclass(frozen=True, slots=True)
class HeartbeatCheck:
    """What ``GET /heartbeat`` of one peer said; ``ok`` when it answered 200 with a heartbeat."""

    peer: str
    ok: bool
    message: str
    status: int | None = None
    elapsed_ms: float = 0.0


async def check_heartbeat(client: httpx.AsyncClient, peer: Peer) -> HeartbeatCheck:
    """Ask ``peer`` for its heartbeat with our token, within ``min(peer.timeout, 10 s)``."""
    started = time.perf_counter()
    headers = {
        "X-Auth-Token": peer.token,
        "Accept": media_type(peer.api_version),
        "User-Agent": f"mme-node/{__version__}",
    }
    try:
        async with client.stream(
            "GET",
            f"{peer.base_url}/heartbeat",
            headers=headers,
            timeout=min(peer.timeout, PROBE_TIMEOUT),
            follow_redirects=False,
        ) as response:
            content = await _read_capped(response)
    except httpx.TimeoutException:
        return HeartbeatCheck(peer.name, False, "no answer in time (timeout)")
    except httpx.RequestError as error:
        return HeartbeatCheck(peer.name, False, f"unreachable: {type(error).__name__}: {error}")
    elapsed = (time.perf_counter() - started) * 1000
    status = response.status_code
    if status != 200:
        hint = " (the peer refuses our token)" if status in (401, 403) else ""
        return HeartbeatCheck(peer.name, False, f"HTTP {status}{hint}", status, elapsed)
    described = _described_heartbeat(content)
    if described is None:
        return HeartbeatCheck(peer.name, False, "HTTP 200 but no MME heartbeat", status, elapsed)
    return HeartbeatCheck(peer.name, True, described, status, elapsed)


def link_test_patient(contact: Contact) -> Patient:
    """A public MME benchmark case marked ``test: true`` (so no one is notified), as ``contact``'s.

    A peer running with the MME benchmark data (``serve --demo`` here) holds
    this case as a test patient, so it should come back first.
    """
    data = resources.files("mme_node") / "data" / "benchmark_patients.json"
    documents = json.loads(data.read_text(encoding="utf-8"))
    document = next(d for d in documents if d["id"] == TEST_PATIENT_ID)
    patient, _warnings = load_patient(document | {"test": True})
    return patient.replace(id=f"link-test-{TEST_PATIENT_ID}", contact=contact, label=None)


async def send_test_match(client: httpx.AsyncClient, peer: Peer, patient: Patient) -> PeerOutcome:
    """``POST /match`` of ``patient`` to ``peer`` in its API version, answer validated."""
    body = match_request_body(dump_patient(patient, peer.api_version))
    return await ask_peer(client, peer, body)


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_HEARTBEAT_BYTES:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _described_heartbeat(content: bytes) -> str | None:
    """The heartbeat in words, or None when the body is not one."""
    try:
        document: Any = json.loads(content)
        heartbeat = document["heartbeat"]
        accepts = ", ".join(
            kind.removeprefix("application/vnd.ga4gh.matchmaker.").removesuffix("+json")
            for kind in heartbeat.get("accept", ())
        )
        production = "production" if heartbeat.get("production") else "not production"
        return f"up, {production}, version {heartbeat.get('version', '?')}, accepts {accepts}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
