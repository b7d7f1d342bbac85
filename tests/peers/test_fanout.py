"""Fan-out against real fault peers: each bad peer fails alone, the healthy one answers."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import pytest
from fault_peers import MEDIA_1_0, TOKEN, FaultPeerServer, remote_patient

from mme_node.formats.schemas import load_patient
from mme_node.model import Patient
from mme_node.peers import Peer, PeerOutcome, RetryPolicy, match_peers
from mme_node.peers.client import MAX_PEER_RESULTS

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
CUT_AT = 1.0
"""The deadline of the peers that never finish: ``hang`` says nothing, ``drip`` sends a byte every
0.2 s for 20 s, so their ``timeout`` shows the deadline covers the whole answer."""
NEVER_FINISHING = {"hang", "drip"}
TOGETHER = 3
"""How many ``together`` peers the fan-out asks: each answers only once all of them were asked."""
FAULT_PATHS = [
    "healthy",
    "hang",
    "drip",
    "status/500",
    "status/401",
    "html",
    "invalid-json",
    "over-cap",
    "stream-over-cap",
    "not-an-object",
    "off-schema",
    "score-too-high",
    "too-many-results",
]


def fan_out(patient: Patient, peers: list[Peer], **options: Any) -> list[PeerOutcome]:
    shown = {peer.name: patient for peer in peers}
    return asyncio.run(match_peers(peers, shown=shown, retry=FAST_RETRY, **options))


@pytest.fixture(scope="module")
def fan_out_to_all(
    fault_peers: FaultPeerServer, local_patient: Patient, refusing_peer: Peer
) -> dict[str, PeerOutcome]:
    """One fan-out to every kind of fault peer at once, by peer name.

    Only the peers that never finish have a short deadline; the others answer at once and
    have the generous default, so that a busy machine cannot make their outcome a timeout.
    """
    peers = [
        refusing_peer,
        *(
            fault_peers.peer(path, **({"timeout": CUT_AT} if path in NEVER_FINISHING else {}))
            for path in FAULT_PATHS
        ),
        *(
            fault_peers.peer(f"together/fan-out/{TOGETHER}", name=f"together-{n}")
            for n in range(TOGETHER)
        ),
    ]
    outcomes = fan_out(local_patient, peers)
    assert [outcome.peer for outcome in outcomes] == [peer.name for peer in peers]
    return {outcome.peer: outcome for outcome in outcomes}


def test_fan_out_asks_every_peer_at_once_beside_hanging_and_dripping_peers(
    fan_out_to_all: dict[str, PeerOutcome],
) -> None:
    # Asked one after another, the first ``together`` peer would wait for the next one
    # until its deadline; so each answers only if the fan-out asked them all at once.
    together = [fan_out_to_all[f"together-{n}"] for n in range(TOGETHER)]
    assert [(outcome.error, len(outcome.results)) for outcome in together] == [(None, 2)] * TOGETHER


def test_fan_out_keeps_the_healthy_peers_results_intact(
    fan_out_to_all: dict[str, PeerOutcome],
) -> None:
    outcome = fan_out_to_all["healthy"]
    assert outcome.error is None and outcome.status == 200
    assert [match.score for match in outcome.results] == [0.9, 0.25]
    assert [match.patient.id for match in outcome.results] == ["remote-1", "remote-2"]
    assert outcome.results[0].patient == load_patient(remote_patient("remote-1"))[0]
    assert outcome.results[0].raw["patient"] == remote_patient("remote-1")


@pytest.mark.parametrize(
    ("peer", "kind", "status"),
    [
        ("refusing", "connection", None),
        ("hang", "timeout", None),
        ("drip", "timeout", 200),
        ("status-500", "http-status", 500),
        ("status-401", "http-status", 401),
        ("html", "invalid-json", 200),
        ("invalid-json", "invalid-json", 200),
        ("over-cap", "too-large", 200),
        ("stream-over-cap", "too-large", 200),
        ("not-an-object", "invalid-response", 200),
        ("off-schema", "invalid-response", 200),
        ("score-too-high", "invalid-response", 200),
        ("too-many-results", "invalid-response", 200),
    ],
)
def test_fan_out_reports_each_bad_peer_with_its_error_kind(
    fan_out_to_all: dict[str, PeerOutcome],
    peer: str,
    kind: str,
    status: int | None,
) -> None:
    outcome = fan_out_to_all[peer]
    assert outcome.error is not None
    assert (outcome.error.kind, outcome.error.status, outcome.results) == (kind, status, [])
    assert outcome.status == status


def test_invalid_response_names_what_was_wrong(
    fan_out_to_all: dict[str, PeerOutcome],
) -> None:
    outcomes = fan_out_to_all
    assert "results[0].score.patient 1.5" in _message(outcomes["score-too-high"])
    assert "results[0]: patient.contact" in _message(outcomes["off-schema"])
    assert "not a JSON object" in _message(outcomes["not-an-object"])
    assert "text/html" in _message(outcomes["html"])
    assert f"at most {MAX_PEER_RESULTS} are accepted" in _message(outcomes["too-many-results"])


def test_no_error_message_contains_the_token(
    fan_out_to_all: dict[str, PeerOutcome],
) -> None:
    assert all(TOKEN not in _message(outcome) for outcome in fan_out_to_all.values())


def test_refused_connection_is_retried_then_reported(
    fan_out_to_all: dict[str, PeerOutcome],
) -> None:
    assert "after 3 attempts" in _message(fan_out_to_all["refusing"])


def _message(outcome: PeerOutcome) -> str:
    return outcome.error.message if outcome.error else ""


def test_request_carries_token_media_type_and_the_patient_in_v1_0(
    fault_peers: FaultPeerServer, local_patient: Patient
) -> None:
    fan_out(local_patient, [fault_peers.peer("record/headers-1-0")])
    headers = fault_peers.state.last_headers["headers-1-0"]
    assert headers["x-auth-token"] == TOKEN
    assert headers["content-type"] == MEDIA_1_0
    assert headers["accept"] == MEDIA_1_0
    body = json.loads(fault_peers.state.last_body["headers-1-0"])
    assert load_patient(body["patient"])[0] == local_patient


def test_a_peer_without_a_view_of_the_patient_is_not_asked(
    fault_peers: FaultPeerServer, local_patient: Patient, caplog: pytest.LogCaptureFixture
) -> None:
    seen = fault_peers.peer("record/view-given", name="seen")
    unseen = fault_peers.peer("record/no-view", name="unseen")
    with caplog.at_level(logging.WARNING, logger="mme_node.peers.fanout"):
        outcomes = asyncio.run(
            match_peers([seen, unseen], shown={"seen": local_patient}, retry=FAST_RETRY)
        )
    assert [(o.peer, o.error.kind if o.error else None) for o in outcomes] == [
        ("seen", None),
        ("unseen", "not-shared"),
    ]
    assert fault_peers.state.requests["view-given"] == 1
    assert fault_peers.state.requests["no-view"] == 0
    assert "peer unseen: not-shared" in caplog.text


def test_request_uses_the_peers_api_version(
    fault_peers: FaultPeerServer, local_patient: Patient
) -> None:
    fan_out(local_patient, [fault_peers.peer("record/headers-1-1", api_version="1.1")])
    headers = fault_peers.state.last_headers["headers-1-1"]
    assert headers["accept"] == "application/vnd.ga4gh.matchmaker.v1.1+json"


def test_503_is_retried_until_success(fault_peers: FaultPeerServer, local_patient: Patient) -> None:
    [outcome] = fan_out(local_patient, [fault_peers.peer("flaky/retry-503/2")])
    assert outcome.error is None
    assert len(outcome.results) == 2
    assert fault_peers.state.requests["retry-503"] == 3


def test_retries_stop_after_the_policys_attempts(
    fault_peers: FaultPeerServer, local_patient: Patient
) -> None:
    [outcome] = fan_out(local_patient, [fault_peers.peer("flaky/retry-exhausted/9")])
    assert outcome.error is not None and outcome.error.status == 503
    assert fault_peers.state.requests["retry-exhausted"] == FAST_RETRY.attempts


def test_client_errors_are_not_retried(
    fault_peers: FaultPeerServer, local_patient: Patient
) -> None:
    [outcome] = fan_out(local_patient, [fault_peers.peer("count/no-retry-400/400")])
    assert outcome.error is not None and outcome.error.kind == "http-status"
    assert fault_peers.state.requests["no-retry-400"] == 1


def test_a_retry_never_waits_past_the_deadline(
    fault_peers: FaultPeerServer, local_patient: Patient
) -> None:
    # The pause before the retry (1000 s) ends far past the deadline (the default 30 s):
    # the 503 is reported at once and no second request is sent. Were the pause taken,
    # the deadline would cut it and the outcome would be a timeout.
    slow_retry = RetryPolicy(attempts=5, base_delay=1000.0, max_delay=1000.0)
    peer = fault_peers.peer("flaky/retry-deadline/9")
    outcomes = asyncio.run(
        match_peers([peer], shown={peer.name: local_patient}, retry=slow_retry, rng=LongestPause())
    )
    assert outcomes[0].error is not None
    assert (outcomes[0].error.kind, outcomes[0].error.status) == ("http-status", 503)
    assert fault_peers.state.requests["retry-deadline"] == 1


class LongestPause(random.Random):
    """Back-off whose every pause is the longest the policy allows (no chance in the test)."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_logs_never_contain_the_token(
    fault_peers: FaultPeerServer,
    local_patient: Patient,
    refusing_peer: Peer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    peers = [refusing_peer, fault_peers.peer("healthy"), fault_peers.peer("status/500")]
    fan_out(local_patient, peers)
    assert "peer healthy: 2 results" in caplog.text
    assert TOKEN not in caplog.text


def test_empty_peer_list_gives_no_outcomes(local_patient: Patient) -> None:
    assert fan_out(local_patient, []) == []
