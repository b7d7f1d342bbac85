"""Two real nodes matching each other's patients over HTTP, with history and email.

Node A and node B run as ``mme-node serve`` processes on 127.0.0.1, each set
up with the ``mme-node`` command line (its own tokens, the other node as its
peer) and given half of the MME benchmark patients through its own API, plus
a few real (``test: false``) patients whose contacts get notification emails
from a real SMTP server. The module-scoped fixtures run every exchange once,
in order, and record what came back; the tests then check one fact each.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from mme_node.peers import Peer, PeerRegistry
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.services.history import MatchHistory
from tests.federation.mail_sink import MailSink, body_of, free_port
from tests.federation.node_process import NodeProcess
from tests.peers.fault_peers import ANSWERS_WITHIN, FaultPeerServer
from tests.peers.fault_peers import TOKEN as FAULT_TOKEN

BENCHMARK: list[dict[str, Any]] = json.loads(
    (resources.files("mme_node") / "data" / "benchmark_patients.json").read_text(encoding="utf-8")
)
A_PATIENTS = BENCHMARK[0::2]
B_PATIENTS = BENCHMARK[1::2]
A_TEST_QUERY = "P0001025"  # SNRPB, node A's half
B_TEST_QUERY = "P0001026"  # SNRPB, node B's half
CLINIC_A = "clinic-a@example.org"
CLINIC_B = "clinic-b@example.org"
HANG_DEADLINE = 1.0


def benchmark_patient(patient_id: str) -> dict[str, Any]:
    return copy.deepcopy(next(p for p in BENCHMARK if p["id"] == patient_id))


def real_copy(patient_id: str, new_id: str, contact: dict[str, str]) -> dict[str, Any]:
    """A benchmark patient as a real (``test: false``) case of our own."""
    patient = benchmark_patient(patient_id)
    patient.update(id=new_id, test=False, contact=contact)
    return patient


def no_email_contact(node: str) -> dict[str, str]:
    return {"name": f"Registry {node}", "href": f"https://{node}.example.org/registry"}


# Real pairs on each side: one SNRPB case with an email contact, and two
# other-gene cases (LAMA1, NGLY1) whose contacts have no email address.
A_REAL = [
    real_copy("P0001027", "A-real-SNRPB", {"name": "Dr A", "href": f"mailto:{CLINIC_A}"}),
    real_copy("P0001017", "A-real-LAMA1", no_email_contact("node-a")),
    real_copy("P0001069", "A-real-NGLY1", no_email_contact("node-a")),
]
B_REAL = [
    real_copy(
        "P0001029",
        "B-real-SNRPB",
        {"name": "Dr B", "href": "https://node-b.example.org/dr-b", "email": CLINIC_B},
    ),
    real_copy("P0001019", "B-real-LAMA1", no_email_contact("node-b")),
    real_copy("P0001070", "B-real-NGLY1", no_email_contact("node-b")),
]


@dataclass
class Federation:
    a: NodeProcess
    b: NodeProcess
    a_submitter: str
    b_submitter: str
    a_peer_token: str  # what node B sends to node A
    b_peer_token: str  # what node A sends to node B
    clients: list[httpx.Client] = field(default_factory=list)

    def submitter_a(self) -> httpx.Client:
        return self._client(self.a, self.a_submitter)

    def submitter_b(self) -> httpx.Client:
        return self._client(self.b, self.b_submitter)

    def _client(self, node: NodeProcess, token: str) -> httpx.Client:
        client = node.client(token)
        self.clients.append(client)
        return client


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory, shared_hpo_dir: Path, mail_server: MailSink
) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("federation")
    a, b = (
        NodeProcess(
            name,
            root / name,
            shared_hpo_dir,
            {
                "MME_SMTP_HOST": "127.0.0.1",
                "MME_SMTP_PORT": str(mail_server.port),
                "MME_SMTP_FROM": f"mme@{name}.example.org",
                "MME_PUBLIC_URL": f"https://{name}.example.org",
            },
        )
        for name in ("node-a", "node-b")
    )
    federation = Federation(
        a=a,
        b=b,
        a_submitter=a.create_token("clinic-a", "submitter"),
        b_submitter=b.create_token("clinic-b", "submitter"),
        a_peer_token=a.create_token("node-b", "peer"),
        b_peer_token=b.create_token("node-a", "peer"),
    )
    try:
        a.start()
        b.start()
        a.wait_until_up(federation.a_peer_token)
        b.wait_until_up(federation.b_peer_token)
        # Running servers read the registry afresh, so peers can be added once the URLs are known.
        a.add_peer("node-b", b.url, federation.b_peer_token, timeout=10)
        b.add_peer("node-a", a.url, federation.a_peer_token, timeout=10)
        for client, patients in (
            (federation.submitter_a(), A_PATIENTS + A_REAL),
            (federation.submitter_b(), B_PATIENTS + B_REAL),
        ):
            for patient in patients:
                answer = client.post("/api/patients", json={"patient": patient})
                assert answer.status_code == 201, answer.text
        yield federation
    finally:
        for client in federation.clients:
            client.close()
        a.stop()
        b.stop()


def match_externally(client: httpx.Client, patient_id: str, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/api/patients/{patient_id}/match/external", json=body or None)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def history(client: httpx.Client, patient_id: str) -> list[dict[str, Any]]:
    """The patient's matches, newest first (one page holds them all)."""
    answer = client.get(f"/api/patients/{patient_id}/matches")
    assert answer.status_code == 200, answer.text
    assert answer.json()["next"] is None
    matches: list[dict[str, Any]] = answer.json()["matches"]
    return matches


@dataclass
class Exchange:
    """What each step of the exchange answered, and the emails it caused."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    emails: dict[str, list[EmailMessage]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def exchange(federation: Federation, mail_server: MailSink) -> Exchange:
    """Every match of the scenario, once, in order: test pairs, then the real pair twice."""
    a, b = federation.submitter_a(), federation.submitter_b()
    # The emails each step should cause: the nodes send them after answering, so each step
    # waits for as many as it should cause; one too many shows up in the next step's.
    steps: list[tuple[str, httpx.Client, str, dict[str, Any], int]] = [
        ("test A->B", a, A_TEST_QUERY, {}, 0),
        ("test B->A", b, B_TEST_QUERY, {}, 0),
        ("real A->B", a, "A-real-SNRPB", {}, 2),
        ("real A->B again", a, "A-real-SNRPB", {"peers": ["node-b"]}, 0),
        ("real B->A", b, "B-real-SNRPB", {}, 2),
    ]
    recorded = Exchange()
    mail_server.clear()
    for step, client, patient_id, body, expected in steps:
        before = len(mail_server.messages)
        recorded.answers[step] = match_externally(client, patient_id, **body)
        recorded.emails[step] = mail_server.wait_for(before + expected)[before:]
    return recorded


def only_outcome(answer: dict[str, Any], peer: str) -> dict[str, Any]:
    assert [outcome["peer"] for outcome in answer["peers"]] == [peer]
    outcome: dict[str, Any] = answer["peers"][0]
    assert outcome["error"] is None
    return outcome


def shown_as(node: NodeProcess, recipient: str, owner: str, patient_id: str) -> str:
    """The pseudonym ``node`` shows ``recipient`` for its ``owner``'s patient (with its key)."""
    return Pseudonyms.in_data_dir(node.root / "data").pseudonym(recipient, owner, patient_id)


def a_shown_to_b(patient_id: str, federation: Federation) -> str:
    return shown_as(federation.a, "node-b", "clinic-a", patient_id)


def b_shown_to_a(patient_id: str, federation: Federation) -> str:
    return shown_as(federation.b, "node-a", "clinic-b", patient_id)


def genes(patient: dict[str, Any]) -> set[str]:
    return {g["gene"]["id"] for g in patient.get("genomicFeatures", [])}


@pytest.mark.parametrize(
    ("step", "peer", "their_half"),
    [("test A->B", "node-b", B_PATIENTS), ("test B->A", "node-a", A_PATIENTS)],
)
def test_external_match_ranks_the_peers_patient_with_the_same_gene_first(
    exchange: Exchange,
    federation: Federation,
    step: str,
    peer: str,
    their_half: list[dict[str, Any]],
) -> None:
    results = only_outcome(exchange.answers[step], peer)["results"]
    assert results
    assert "SNRPB" in genes(results[0]["patient"])
    to_us = b_shown_to_a if peer == "node-b" else a_shown_to_b
    assert {r["patient"]["id"] for r in results} <= {to_us(p["id"], federation) for p in their_half}


def test_test_queries_are_answered_with_test_patients_only(exchange: Exchange) -> None:
    results = only_outcome(exchange.answers["test A->B"], "node-b")["results"]
    assert all(r["patient"]["test"] is True for r in results)


def test_real_query_is_answered_with_the_peers_real_patients_same_gene_first(
    exchange: Exchange, federation: Federation
) -> None:
    results = only_outcome(exchange.answers["real A->B"], "node-b")["results"]
    assert [r["patient"]["id"] for r in results][0] == b_shown_to_a("B-real-SNRPB", federation)
    assert {r["patient"]["id"] for r in results} <= {
        b_shown_to_a(p["id"], federation) for p in B_REAL
    }
    assert all(0 < r["score"]["patient"] <= 1 for r in results)


def test_the_other_way_round_the_real_pair_matches_too(
    exchange: Exchange, federation: Federation
) -> None:
    results = only_outcome(exchange.answers["real B->A"], "node-a")["results"]
    assert results[0]["patient"]["id"] == a_shown_to_b("A-real-SNRPB", federation)


def test_outbound_history_marks_a_repeated_identical_match_not_new(
    exchange: Exchange, federation: Federation
) -> None:
    outbound = [
        m for m in history(federation.submitter_a(), "A-real-SNRPB") if m["direction"] == "outbound"
    ]
    assert [m["peer"] for m in outbound] == ["node-b", "node-b"]
    second, first = outbound
    assert first["results"][0]["patientId"] == b_shown_to_a("B-real-SNRPB", federation)
    # Both of our ids for the query: ours, and the pseudonym node B was sent.
    assert {m["shownAs"] for m in outbound} == {a_shown_to_b("A-real-SNRPB", federation)}
    assert [r["patientId"] for r in first["results"]] == [r["patientId"] for r in second["results"]]
    assert all(r["new"] and not r["local"] for r in first["results"])
    assert not any(r["new"] for r in second["results"])


def test_inbound_history_shows_our_patient_returned_to_the_peer_new_once(
    exchange: Exchange, federation: Federation
) -> None:
    inbound = [
        m for m in history(federation.submitter_b(), "B-real-SNRPB") if m["direction"] == "inbound"
    ]
    query = a_shown_to_b("A-real-SNRPB", federation)
    assert [(m["peer"], m["queryPatientId"]) for m in inbound] == [("node-a", query)] * 2
    ours = [[r for r in m["results"] if r["patientId"] == "B-real-SNRPB"][0] for m in inbound]
    assert [(r["local"], r["new"]) for r in ours] == [(True, False), (True, True)]
    assert {r["shownAs"] for r in ours} == {b_shown_to_a("B-real-SNRPB", federation)}


def test_each_node_records_both_directions_for_the_real_pair(
    exchange: Exchange, federation: Federation
) -> None:
    for client, patient_id in (
        (federation.submitter_a(), "A-real-SNRPB"),
        (federation.submitter_b(), "B-real-SNRPB"),
    ):
        directions = [m["direction"] for m in history(client, patient_id)]
        assert sorted(set(directions)) == ["inbound", "outbound"], patient_id


def test_first_real_match_emails_both_contacts(exchange: Exchange) -> None:
    emails = exchange.emails["real A->B"]
    assert sorted(m["To"] for m in emails) == [CLINIC_A, CLINIC_B]


def test_outbound_email_names_the_new_remote_match_and_its_contact(
    exchange: Exchange, federation: Federation
) -> None:
    (email,) = [m for m in exchange.emails["real A->B"] if m["To"] == CLINIC_A]
    assert email["From"] == "mme@node-a.example.org"
    body = body_of(email)
    assert "A-real-SNRPB" in email["Subject"] + body
    assert f"{b_shown_to_a('B-real-SNRPB', federation)} at node-b" in body
    assert "Dr B <https://node-b.example.org/dr-b>" in body
    assert "https://node-a.example.org/app/patients/A-real-SNRPB" in body


def test_inbound_email_tells_our_contact_who_asked(
    exchange: Exchange, federation: Federation
) -> None:
    (email,) = [m for m in exchange.emails["real A->B"] if m["To"] == CLINIC_B]
    assert email["From"] == "mme@node-b.example.org"
    body = body_of(email)
    assert "B-real-SNRPB" in email["Subject"] + body
    assert f"{a_shown_to_b('A-real-SNRPB', federation)} at node-a" in body
    assert f"Dr A <mailto:{CLINIC_A}>" in body


def test_repeated_match_with_nothing_new_sends_no_email(exchange: Exchange) -> None:
    assert exchange.emails["real A->B again"] == []


def test_match_the_other_way_emails_both_contacts_again(exchange: Exchange) -> None:
    assert sorted(m["To"] for m in exchange.emails["real B->A"]) == [CLINIC_A, CLINIC_B]


@pytest.mark.parametrize("step", ["test A->B", "test B->A"])
def test_test_matches_notify_nobody(exchange: Exchange, step: str) -> None:
    assert exchange.emails[step] == []


# ---------------------------------------------------------------- fault peers

FAULTS = {
    # peer name: (path on the fault server, expected error kind, expected status)
    "hang": ("hang", "timeout", None),
    "status-500": ("status/500", "http-status", 500),
    "status-503": ("status/503", "http-status", 503),
    "html": ("html", "invalid-json", 200),
    "invalid-json": ("invalid-json", "invalid-json", 200),
    "score-too-high": ("score-too-high", "invalid-response", 200),
}


@pytest.fixture(scope="module")
def fault_server() -> Iterator[FaultPeerServer]:
    server = FaultPeerServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def faulty_exchange(
    exchange: Exchange, federation: Federation, fault_server: FaultPeerServer
) -> dict[str, dict[str, Any]]:
    """Node A's registry gains broken peers while it runs; one match asks them all and B."""
    registry = PeerRegistry.in_data_dir(federation.a.root / "data")
    for name, (path, _, _) in FAULTS.items():
        # Only the hanging peer has a short deadline: the others answer (or refuse) at once,
        # and a busy machine must not turn their answer into a timeout.
        deadline = HANG_DEADLINE if name == "hang" else ANSWERS_WITHIN
        registry.add(fault_server.peer(path, name=name, timeout=deadline))
    registry.add(
        Peer(
            name="refusing",
            base_url=f"http://127.0.0.1:{free_port()}",
            token=FAULT_TOKEN,
            timeout=ANSWERS_WITHIN,
        )
    )
    answer = match_externally(federation.submitter_a(), A_TEST_QUERY)
    return {outcome["peer"]: outcome for outcome in answer["peers"]}


def test_external_match_reports_every_enabled_peer_once(
    faulty_exchange: dict[str, dict[str, Any]],
) -> None:
    outcomes = faulty_exchange
    assert sorted(outcomes) == sorted([*FAULTS, "refusing", "node-b"])


@pytest.mark.parametrize(("peer", "fault"), FAULTS.items())
def test_external_match_reports_each_broken_peers_error_kind_and_status(
    faulty_exchange: dict[str, dict[str, Any]],
    peer: str,
    fault: tuple[str, str, int | None],
) -> None:
    outcomes = faulty_exchange
    _, kind, status = fault
    assert outcomes[peer]["results"] == []
    assert (outcomes[peer]["error"]["kind"], outcomes[peer]["error"]["status"]) == (kind, status)


def test_external_match_reports_a_refused_connection(
    faulty_exchange: dict[str, dict[str, Any]],
) -> None:
    outcomes = faulty_exchange
    assert outcomes["refusing"]["error"]["kind"] == "connection"


def test_broken_peers_do_not_cost_the_healthy_peers_results(
    faulty_exchange: dict[str, dict[str, Any]],
) -> None:
    outcomes = faulty_exchange
    assert outcomes["node-b"]["error"] is None
    assert "SNRPB" in genes(outcomes["node-b"]["results"][0]["patient"])


def test_history_records_each_broken_peers_error(
    faulty_exchange: dict[str, dict[str, Any]], federation: Federation
) -> None:
    matches = history(federation.submitter_a(), A_TEST_QUERY)
    recorded = {m["peer"]: m["error"] for m in matches if m["peer"] in FAULTS}
    assert {peer: error["kind"] for peer, error in recorded.items()} == {
        peer: kind for peer, (_, kind, _) in FAULTS.items()
    }


# ---------------------------------------------------------------- deletion


@pytest.fixture(scope="module")
def deleted_on_b(faulty_exchange: object, federation: Federation) -> None:
    """Node B's submitter deletes the real SNRPB case after every exchange above."""
    answer = federation.submitter_b().delete("/api/patients/B-real-SNRPB")
    assert answer.status_code == 200


def test_deleting_a_patient_erases_its_history_on_its_node(
    deleted_on_b: None, federation: Federation
) -> None:
    assert federation.submitter_b().get("/api/patients/B-real-SNRPB/matches").status_code == 404
    history_b = MatchHistory(federation.b.database_path)
    try:
        assert not asyncio.run(history_b.mentions("clinic-b", "B-real-SNRPB"))
    finally:
        history_b.close()


def test_deleting_a_patient_removes_it_from_other_patients_matches(
    deleted_on_b: None, federation: Federation
) -> None:
    matches = history(federation.submitter_b(), "B-real-LAMA1")
    assert matches  # B-real-LAMA1 was returned to node A beside B-real-SNRPB
    assert all(r["patientId"] != "B-real-SNRPB" for m in matches for r in m["results"])


def test_deleting_a_patient_leaves_the_other_nodes_record_alone(
    deleted_on_b: None, federation: Federation
) -> None:
    outbound = [
        m for m in history(federation.submitter_a(), "A-real-SNRPB") if m["direction"] == "outbound"
    ]
    b_real = b_shown_to_a("B-real-SNRPB", federation)
    assert all(m["results"][0]["patientId"] == b_real for m in outbound)
