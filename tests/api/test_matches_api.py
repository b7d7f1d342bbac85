"""The match endpoints of the submitter API: local and external matches, history, emails.

The node runs in-process on a real SQLite file, with its peers served by the
fault peer server on 127.0.0.1 and its notifications sent to a real SMTP
server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from api_samples import Tokens, our_ids, patient_json
from starlette.testclient import TestClient

from mme_node.api.matches import MAX_HISTORY_PAGE
from mme_node.app import create_app
from mme_node.peers import PeerRegistry
from mme_node.services.history import MatchHistory
from mme_node.settings import Settings
from tests.federation.mail_sink import MailSink, body_of, free_port
from tests.peers.fault_peers import FaultPeerServer
from tests.services.stored_history import stored_matches

CONTACT = "dr.example@example.org"  # the mailto href of api_samples.patient_json
MME_JSON = "application/vnd.ga4gh.matchmaker.v1.0+json"


@pytest.fixture(scope="module")
def fault_server() -> Iterator[FaultPeerServer]:
    server = FaultPeerServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def node_settings(node_settings: Settings, mail: MailSink) -> Settings:
    """The shared node settings, sending notifications to the SMTP sink."""
    return node_settings.replace(
        smtp_host="127.0.0.1", smtp_port=mail.port, smtp_from="mme@node.example.org"
    )


@pytest.fixture
def registry(node_settings: Settings) -> PeerRegistry:
    return PeerRegistry.in_data_dir(node_settings.data_dir)


@pytest.fixture
def healthy_peer(registry: PeerRegistry, fault_server: FaultPeerServer) -> str:
    """A registered peer that answers remote-1 (0.9) and remote-2 (0.25) to every query."""
    registry.add(fault_server.peer("healthy", name="healthy"))
    return "healthy"


def submitter(tokens: Tokens) -> dict[str, str]:
    return {"X-Auth-Token": tokens.submitter}


def submit(client: TestClient, tokens: Tokens, patient: dict[str, Any]) -> None:
    answer = client.post("/api/patients", json={"patient": patient}, headers=submitter(tokens))
    assert answer.status_code == 201, answer.text


def match_locally(client: TestClient, tokens: Tokens, patient_id: str) -> Any:
    return client.post(f"/api/patients/{patient_id}/match", headers=submitter(tokens))


def match_externally(
    client: TestClient, tokens: Tokens, patient_id: str, body: object = None
) -> Any:
    return client.post(
        f"/api/patients/{patient_id}/match/external", json=body, headers=submitter(tokens)
    )


def history(client: TestClient, tokens: Tokens, patient_id: str) -> list[dict[str, Any]]:
    """The patient's matches, newest first: its history's first page, which is its last."""
    answer = client.get(f"/api/patients/{patient_id}/matches", headers=submitter(tokens))
    assert answer.status_code == 200, answer.text
    assert answer.json()["next"] is None
    matches: list[dict[str, Any]] = answer.json()["matches"]
    return matches


def mentioned(settings: Settings, owner: str, patient_id: str) -> bool:
    """Whether any row of the node's SQLite file still names the patient."""
    match_history = MatchHistory(settings.database_path)
    try:
        return asyncio.run(match_history.mentions(owner, patient_id))
    finally:
        match_history.close()


def peer_query(client: TestClient, tokens: Tokens, patient: dict[str, Any]) -> Any:
    """A peer's ``POST /match``."""
    return client.post(
        "/match",
        json={"patient": patient},
        headers={"X-Auth-Token": tokens.peer, "Content-Type": MME_JSON, "Accept": MME_JSON},
    )


def emails(client: TestClient, mail: MailSink) -> list[EmailMessage]:
    """The emails received, once the node has sent every notification it queued."""
    assert client.portal is not None
    client.portal.call(client.app.state.node.matches.notifications.settled)  # type: ignore[attr-defined]
    return list(mail.messages)


def remote_query(patient_id: str = "Q1", **changes: object) -> dict[str, Any]:
    contact = {"name": "Dr Peer", "href": "https://peer.example.org/dr-peer"}
    return patient_json(patient_id, contact=contact, **changes)


@pytest.fixture
def two_similar(client: TestClient, tokens: Tokens) -> None:
    """P1 and P2 of clinic-a, both with seizures and SCN1A."""
    submit(client, tokens, patient_json("P1"))
    submit(client, tokens, patient_json("P2", label="second"))


# ---------------------------------------------------------------- local matches


def test_local_match_returns_the_similar_patient_with_an_explanation(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    answer = match_locally(client, tokens, "P1")
    assert answer.status_code == 200
    (result,) = answer.json()["results"]
    assert result["patient"]["id"] == "P2"
    assert 0 < result["score"]["patient"] <= 1
    explanation = result["explanation"]
    assert explanation["sharedGenes"] == ["SCN1A"]
    # Both exclude microcephaly: a shared pertinent negative, matched like any term.
    assert explanation["sharedExcludedTerms"] == ["HP:0000252"]
    negative = next(m for m in explanation["termMatches"] if not m["queryTerm"]["observed"])
    assert negative["candidateTerm"] == {
        "id": "HP:0000252",
        "label": "Microcephaly",
        "observed": False,
    }


def test_local_match_is_recorded_and_a_repeat_is_not_new(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    match_locally(client, tokens, "P1")
    match_locally(client, tokens, "P1")
    matches = history(client, tokens, "P1")
    assert [(m["direction"], m["peer"]) for m in matches] == [("local", "local")] * 2
    assert [[(r["patientId"], r["local"], r["new"]) for r in m["results"]] for m in matches] == [
        [("P2", True, False)],
        [("P2", True, True)],
    ]


def test_local_match_sends_no_email(
    client: TestClient, tokens: Tokens, two_similar: None, mail: MailSink
) -> None:
    match_locally(client, tokens, "P1")
    assert emails(client, mail) == []


def test_match_of_an_unknown_patient_is_404(client: TestClient, tokens: Tokens) -> None:
    assert match_locally(client, tokens, "nobody").status_code == 404
    assert match_externally(client, tokens, "nobody").status_code == 404


def test_another_submitters_patient_cannot_be_matched_or_its_history_read(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    other = {"X-Auth-Token": tokens.other_submitter}
    assert client.post("/api/patients/P1/match", headers=other).status_code == 404
    assert client.post("/api/patients/P1/match/external", headers=other).status_code == 404
    assert client.get("/api/patients/P1/matches", headers=other).status_code == 404


def test_a_history_never_shows_another_submitters_patient_by_its_own_id(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    other = {"X-Auth-Token": tokens.other_submitter}
    answer = client.post("/api/patients", json={"patient": patient_json("B-MRN-7")}, headers=other)
    assert answer.status_code == 201, answer.text
    (found,) = [
        r
        for r in match_locally(client, tokens, "P1").json()["results"]
        if r["patient"]["id"] != "P2"
    ]
    assert client.post("/api/patients/B-MRN-7/match", headers=other).status_code == 200

    ours = json.dumps(history(client, tokens, "P1"))
    theirs = client.get("/api/patients/B-MRN-7/matches", headers=other).json()["matches"]
    # clinic-a saw clinic-b's patient under a pseudonym, and its history says no more.
    assert "B-MRN-7" not in ours
    assert found["patient"]["id"] in ours
    # clinic-b's own match found P1 and P2 under pseudonyms; its history keeps them so.
    assert "P1" not in json.dumps(theirs) and "P2" not in json.dumps(theirs)
    assert [m["queryPatientId"] for m in theirs] == ["B-MRN-7"]


def test_the_history_comes_a_page_at_a_time_newest_first(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    for _ in range(5):
        match_locally(client, tokens, "P1")
    pages, before = [], None
    while True:
        query = {"limit": 2} | ({} if before is None else {"before": before})
        answer = client.get("/api/patients/P1/matches", params=query, headers=submitter(tokens))
        assert answer.status_code == 200, answer.text
        pages.append([match["id"] for match in answer.json()["matches"]])
        if (before := answer.json()["next"]) is None:
            break
        assert before == pages[-1][-1]
    walked = [match_id for page in pages for match_id in page]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert (
        walked == sorted(walked, reverse=True) == [m["id"] for m in history(client, tokens, "P1")]
    )
    assert len(set(walked)) == 5


@pytest.mark.parametrize(
    "query",
    [
        {"before": "0"},
        {"before": "abc"},
        {"before": str(2**63 + 1)},  # beyond SQLite's integers
        {"limit": "0"},
        {"limit": str(MAX_HISTORY_PAGE + 1)},
    ],
)
def test_a_bad_history_cursor_or_page_size_is_400_naming_it(
    client: TestClient, tokens: Tokens, two_similar: None, query: dict[str, str]
) -> None:
    answer = client.get("/api/patients/P1/matches", params=query, headers=submitter(tokens))
    assert answer.status_code == 400
    (name,) = query
    assert f"query parameter {name} " in answer.json()["message"]


def test_a_peer_token_cannot_use_the_match_endpoints(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    peer = {"X-Auth-Token": tokens.peer}
    assert client.post("/api/patients/P1/match", headers=peer).status_code == 403
    assert client.post("/api/patients/P1/match/external", headers=peer).status_code == 403
    assert client.get("/api/patients/P1/matches", headers=peer).status_code == 403


# ---------------------------------------------------------------- external matches


def test_external_match_without_peers_answers_an_empty_list(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    answer = match_externally(client, tokens, "P1")
    assert answer.status_code == 200
    assert answer.json() == {"peers": []}


def test_external_match_returns_each_peers_results(
    client: TestClient, tokens: Tokens, two_similar: None, healthy_peer: str
) -> None:
    (outcome,) = match_externally(client, tokens, "P1").json()["peers"]
    assert outcome["peer"] == "healthy"
    assert outcome["error"] is None
    assert [(r["patient"]["id"], r["score"]["patient"]) for r in outcome["results"]] == [
        ("remote-1", 0.9),
        ("remote-2", 0.25),
    ]
    assert outcome["elapsedMs"] >= 0


def test_external_match_is_recorded_and_a_repeat_is_not_new(
    client: TestClient, tokens: Tokens, two_similar: None, healthy_peer: str
) -> None:
    match_externally(client, tokens, "P1")
    match_externally(client, tokens, "P1")
    matches = history(client, tokens, "P1")
    assert [(m["direction"], m["peer"], m["status"]) for m in matches] == [
        ("outbound", "healthy", 200)
    ] * 2
    assert [[(r["patientId"], r["local"], r["new"]) for r in m["results"]] for m in matches] == [
        [("remote-1", False, False), ("remote-2", False, False)],
        [("remote-1", False, True), ("remote-2", False, True)],
    ]


def test_history_shows_the_remote_patient_as_received(
    client: TestClient, tokens: Tokens, two_similar: None, healthy_peer: str
) -> None:
    match_externally(client, tokens, "P1")
    (recorded,) = history(client, tokens, "P1")
    first = recorded["results"][0]["patient"]
    assert (first["id"], first["contact"]) == (
        "remote-1",
        {"name": "Dr Remote", "href": "mailto:remote@example.org"},
    )


def test_history_shows_no_patient_json_for_our_own_patients(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    match_locally(client, tokens, "P1")
    (recorded,) = history(client, tokens, "P1")
    assert "patient" not in recorded["results"][0]


def test_external_match_asks_only_the_named_peers(
    client: TestClient,
    tokens: Tokens,
    two_similar: None,
    healthy_peer: str,
    registry: PeerRegistry,
    fault_server: FaultPeerServer,
) -> None:
    registry.add(fault_server.peer("record/not-named", name="not-named"))
    answer = match_externally(client, tokens, "P1", {"peers": [healthy_peer]})
    assert [o["peer"] for o in answer.json()["peers"]] == [healthy_peer]
    assert fault_server.state.requests["not-named"] == 0
    match_externally(client, tokens, "P1")
    assert fault_server.state.requests["not-named"] == 1


def test_external_match_reports_and_records_a_peers_error(
    client: TestClient,
    tokens: Tokens,
    two_similar: None,
    registry: PeerRegistry,
    fault_server: FaultPeerServer,
) -> None:
    registry.add(fault_server.peer("status/500", name="failing"))
    (outcome,) = match_externally(client, tokens, "P1").json()["peers"]
    assert outcome["results"] == []
    assert outcome["error"] == {
        "kind": "http-status",
        "message": "HTTP 500 Internal Server Error",
        "status": 500,
    }
    (recorded,) = history(client, tokens, "P1")
    assert (recorded["status"], recorded["error"], recorded["results"]) == (
        500,
        {"kind": "http-status", "message": "HTTP 500 Internal Server Error"},
        [],
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"peers": ["on", "no-such-peer"]}, id="unknown peer"),
        pytest.param({"peers": ["on", "off"]}, id="disabled peer"),
        pytest.param({"peers": "on"}, id="not a list"),
        pytest.param({"peers": ["on", 1]}, id="not names"),
    ],
)
def test_external_match_refuses_a_bad_peer_list_and_asks_nobody(
    client: TestClient,
    tokens: Tokens,
    two_similar: None,
    registry: PeerRegistry,
    fault_server: FaultPeerServer,
    body: object,
) -> None:
    registry.add(fault_server.peer("record/refused-list-on", name="on"))
    registry.add(fault_server.peer("record/refused-list-off", name="off", enabled=False))
    answer = match_externally(client, tokens, "P1", body)
    assert answer.status_code == 400
    assert answer.json()["message"]
    assert fault_server.state.requests["refused-list-on"] == 0
    assert history(client, tokens, "P1") == []


def test_external_match_body_over_the_limit_is_413_and_asks_nobody(
    client: TestClient,
    tokens: Tokens,
    two_similar: None,
    registry: PeerRegistry,
    fault_server: FaultPeerServer,
) -> None:
    registry.add(fault_server.peer("record/too-large-on", name="on"))
    answer = match_externally(client, tokens, "P1", {"peers": ["on"] * 300_000})
    assert answer.status_code == 413
    assert "limit" in answer.json()["message"]
    assert fault_server.state.requests["too-large-on"] == 0
    assert history(client, tokens, "P1") == []


def test_external_match_body_of_another_type_is_415(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    answer = client.post(
        "/api/patients/P1/match/external",
        content=b"peers=on",
        headers={**submitter(tokens), "Content-Type": "text/plain"},
    )
    assert answer.status_code == 415


# ---------------------------------------------------------------- inbound matches


def test_inbound_match_is_recorded_in_our_patients_history(
    client: TestClient, tokens: Tokens, two_similar: None
) -> None:
    answer = peer_query(client, tokens, remote_query())
    assert answer.status_code == 200
    shown = [r["patient"]["id"] for r in answer.json()["results"]]
    assert set(our_ids(client, shown)) == {"P1", "P2"}
    (recorded,) = history(client, tokens, "P1")
    assert (recorded["direction"], recorded["peer"], recorded["queryPatientId"]) == (
        "inbound",
        "peer-node",
        "Q1",
    )
    assert {(r["patientId"], r["local"], r["new"]) for r in recorded["results"]} == {
        ("P1", True, True),
        ("P2", True, True),
    }
    # The clinician sees both ids: theirs, and the pseudonym the peer was shown.
    assert {r["shownAs"] for r in recorded["results"]} == set(shown)
    assert {r["disclosure"] for r in recorded["results"]} == {"genes"}


# ---------------------------------------------------------------- deletion


def test_deleting_a_patient_erases_its_own_history(
    client: TestClient,
    tokens: Tokens,
    two_similar: None,
    healthy_peer: str,
    node_settings: Settings,
) -> None:
    match_locally(client, tokens, "P1")
    match_externally(client, tokens, "P1")
    assert client.delete("/api/patients/P1", headers=submitter(tokens)).status_code == 200
    assert not mentioned(node_settings, "clinic-a", "P1")
    assert stored_matches(node_settings.database_path) == []
    submit(client, tokens, patient_json("P1"))
    assert history(client, tokens, "P1") == []


def test_deleting_a_patient_removes_it_from_other_matches_results(
    client: TestClient, tokens: Tokens, two_similar: None, node_settings: Settings
) -> None:
    match_locally(client, tokens, "P1")
    peer_query(client, tokens, remote_query())
    assert client.delete("/api/patients/P2", headers=submitter(tokens)).status_code == 200
    assert client.get("/api/patients/P2/matches", headers=submitter(tokens)).status_code == 404
    assert not mentioned(node_settings, "clinic-a", "P2")
    matches = history(client, tokens, "P1")
    assert [[r["patientId"] for r in m["results"]] for m in matches] == [["P1"], []]
    assert stored_matches(node_settings.database_path) == [("P1", []), ("Q1", ["P1"])]


# ---------------------------------------------------------------- notifications


def test_external_match_with_new_results_emails_the_patients_contact(
    client: TestClient, tokens: Tokens, two_similar: None, healthy_peer: str, mail: MailSink
) -> None:
    match_externally(client, tokens, "P1")
    (message,) = emails(client, mail)
    assert message["To"] == CONTACT
    body = body_of(message)
    assert "remote-1 at healthy, score 0.90: contact Dr Remote <mailto:remote@example.org>" in body
    assert "remote-2 at healthy, score 0.25" in body


def test_repeated_external_match_with_nothing_new_sends_nothing(
    client: TestClient, tokens: Tokens, two_similar: None, healthy_peer: str, mail: MailSink
) -> None:
    match_externally(client, tokens, "P1")
    assert len(emails(client, mail)) == 1
    mail.clear()
    match_externally(client, tokens, "P1")
    assert emails(client, mail) == []


def test_external_match_of_a_test_patient_notifies_nobody(
    client: TestClient, tokens: Tokens, healthy_peer: str, mail: MailSink
) -> None:
    submit(client, tokens, patient_json("T1", test=True))
    (outcome,) = match_externally(client, tokens, "T1").json()["peers"]
    assert outcome["results"]
    assert emails(client, mail) == []


def test_inbound_match_emails_the_contact_of_our_returned_patient_once(
    client: TestClient, tokens: Tokens, mail: MailSink
) -> None:
    submit(client, tokens, patient_json("P1"))
    peer_query(client, tokens, remote_query())
    (message,) = emails(client, mail)
    assert message["To"] == CONTACT
    body = body_of(message)
    assert "Your patient P1 was returned" in body
    assert "Q1 at peer-node" in body
    assert "Dr Peer <https://peer.example.org/dr-peer>" in body
    peer_query(client, tokens, remote_query())
    assert len(emails(client, mail)) == 1


def test_inbound_test_query_notifies_nobody(
    client: TestClient, tokens: Tokens, mail: MailSink
) -> None:
    submit(client, tokens, patient_json("T1", test=True))
    answer = peer_query(client, tokens, remote_query(test=True))
    assert our_ids(client, [r["patient"]["id"] for r in answer.json()["results"]]) == ["T1"]
    assert emails(client, mail) == []


def test_match_succeeds_and_the_failure_is_logged_when_the_smtp_server_is_down(
    node_settings: Settings,
    tokens: Tokens,
    healthy_peer: str,
    mail: MailSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_down = node_settings.replace(smtp_port=free_port())
    with (
        TestClient(create_app(smtp_down)) as client,
        caplog.at_level(logging.WARNING, logger="mme_node.services.notifications"),
    ):
        submit(client, tokens, patient_json("P1"))
        answer = match_externally(client, tokens, "P1")
        assert answer.status_code == 200
        assert answer.json()["peers"][0]["results"]
        assert peer_query(client, tokens, remote_query()).status_code == 200
    assert caplog.text.count("could not send match notification for P1") == 2
    assert mail.messages == []


def test_inbound_match_answers_the_peer_before_a_slow_mail_server_takes_the_email(
    client: TestClient, tokens: Tokens, mail: MailSink, caplog: pytest.LogCaptureFixture
) -> None:
    submit(client, tokens, patient_json("P1"))
    with (
        mail.slow() as let_go,
        caplog.at_level(logging.WARNING, logger="mme_node.services.notifications"),
    ):
        answer = peer_query(client, tokens, remote_query())
        assert answer.status_code == 200
        # The server holds the email unanswered, and the sender still waits for it (had the
        # answer waited for the email, the sender would have given up: "could not send").
        assert mail.holding.wait(30)
        assert mail.messages == []
        let_go.set()
        (message,) = mail.wait_for(1)
        assert "could not send" not in caplog.text
    assert message["To"] == CONTACT
    assert "Your patient P1 was returned" in body_of(message)


def test_external_match_answers_before_a_slow_mail_server_takes_the_email(
    client: TestClient,
    tokens: Tokens,
    two_similar: None,
    healthy_peer: str,
    mail: MailSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        mail.slow() as let_go,
        caplog.at_level(logging.WARNING, logger="mme_node.services.notifications"),
    ):
        assert match_externally(client, tokens, "P1").status_code == 200
        assert mail.holding.wait(30)
        assert mail.messages == []
        let_go.set()
        (message,) = mail.wait_for(1)
        assert "could not send" not in caplog.text
    assert "remote-1 at healthy" in body_of(message)


def test_match_succeeds_and_emails_for_a_patient_whose_label_has_a_line_break(
    client: TestClient, tokens: Tokens, healthy_peer: str, mail: MailSink
) -> None:
    submit(client, tokens, patient_json("P1", label="twin A\r\nBcc: someone@example.org"))
    assert match_externally(client, tokens, "P1").status_code == 200
    assert [m["To"] for m in emails(client, mail)] == [CONTACT]
    assert mail.envelope_recipients == [[CONTACT]]


def test_new_results_below_the_notification_threshold_are_recorded_but_not_emailed(
    node_settings: Settings, tokens: Tokens, healthy_peer: str, mail: MailSink
) -> None:
    with TestClient(create_app(node_settings.replace(notify_min_score=0.5))) as client:
        submit(client, tokens, patient_json("P1"))
        match_externally(client, tokens, "P1")
        (message,) = emails(client, mail)
        body = body_of(message)
        assert "remote-1 at healthy, score 0.90" in body
        assert "remote-2" not in body
        (recorded,) = history(client, tokens, "P1")
        assert [r["patientId"] for r in recorded["results"]] == ["remote-1", "remote-2"]


def test_an_inbound_result_below_the_threshold_emails_nobody(
    node_settings: Settings, tokens: Tokens, mail: MailSink
) -> None:
    with TestClient(create_app(node_settings.replace(notify_min_score=1.0))) as client:
        submit(client, tokens, patient_json("P1"))
        answer = peer_query(client, tokens, remote_query(features=[{"id": "HP:0001250"}]))
        (result,) = answer.json()["results"]
        assert 0 < result["score"]["patient"] < 1.0
        assert emails(client, mail) == []


def test_the_inbound_history_keeps_the_contact_of_the_clinician_who_asked(
    client: TestClient, tokens: Tokens
) -> None:
    submit(client, tokens, patient_json("P1"))
    peer_query(client, tokens, remote_query())
    (inbound,) = [m for m in history(client, tokens, "P1") if m["direction"] == "inbound"]
    assert inbound["queryContact"] == {
        "name": "Dr Peer",
        "href": "https://peer.example.org/dr-peer",
    }


# ---------------------------------------------------------------- what peers and submitters see


def submit_with_consent(
    client: TestClient, tokens: Tokens, patient: dict[str, Any], consent: dict[str, Any]
) -> None:
    answer = client.post(
        "/api/patients", json={"patient": patient, "consent": consent}, headers=submitter(tokens)
    )
    assert answer.status_code == 201, answer.text


def test_our_request_carries_the_peers_pseudonym_and_no_label(
    client: TestClient, tokens: Tokens, registry: PeerRegistry, fault_server: FaultPeerServer
) -> None:
    registry.add(fault_server.peer("record/sent-to-gb", name="gb-peer", country="GB"))
    submit(client, tokens, patient_json("P1", label="twin B, bed 3"))

    outcome = match_externally(client, tokens, "P1").json()["peers"][0]

    sent = json.loads(fault_server.state.last_body["sent-to-gb"])["patient"]
    pseudonym = client.app.state.node.sharing.pseudonyms.pseudonym("gb-peer", "clinic-a", "P1")  # type: ignore[attr-defined]
    assert outcome["error"] is None
    assert sent["id"] == pseudonym and "label" not in sent
    (recorded,) = history(client, tokens, "P1")
    assert (recorded["shownAs"], recorded["disclosure"]) == (pseudonym, "genes")


def test_a_peer_the_consent_does_not_reach_is_not_asked(
    client: TestClient, tokens: Tokens, registry: PeerRegistry, fault_server: FaultPeerServer
) -> None:
    registry.add(fault_server.peer("record/sent-to-fr", name="fr-peer", country="FR"))
    fault_server.state.last_body.pop("sent-to-fr", None)
    submit_with_consent(
        client,
        tokens,
        patient_json("P1"),
        {"sharing": "countries", "countries": ["GB"], "disclosure": "variants"},
    )

    (outcome,) = match_externally(client, tokens, "P1").json()["peers"]

    assert outcome["error"]["kind"] == "not-shared"
    assert "country FR" in outcome["error"]["message"]
    assert "sent-to-fr" not in fault_server.state.last_body


def test_a_local_match_shows_another_owners_patient_as_its_consent_allows(
    client: TestClient, tokens: Tokens
) -> None:
    other = {"X-Auth-Token": tokens.other_submitter}
    answer = client.post(
        "/api/patients",
        json={
            "patient": patient_json("B1", label="their label"),
            "consent": {"sharing": "local", "disclosure": "phenotype"},
        },
        headers=other,
    )
    assert answer.status_code == 201
    submit(client, tokens, patient_json("P1"))

    (result,) = match_locally(client, tokens, "P1").json()["results"]

    assert result["disclosure"] == "phenotype"
    assert result["patient"]["id"] != "B1" and "label" not in result["patient"]
    assert "genomicFeatures" not in result["patient"]
    assert result["explanation"]["sharedGenes"] == []
    assert result["explanation"]["termMatches"]
