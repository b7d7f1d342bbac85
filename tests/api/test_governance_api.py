"""Governance over HTTP: erasure with its receipt, the audit log, peers' policy (admin API)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest
from api_samples import Tokens, patient_json
from starlette.testclient import TestClient

from mme_node.peers import PeerRegistry
from mme_node.settings import Settings
from tests.peers.fault_peers import TOKEN as FAULT_TOKEN
from tests.peers.fault_peers import FaultPeerServer

MME_JSON = "application/vnd.ga4gh.matchmaker.v1.0+json"


def headers(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


def submit(client: TestClient, token: str, patient: dict[str, Any]) -> None:
    answer = client.post("/api/patients", json={"patient": patient}, headers=headers(token))
    assert answer.status_code == 201, answer.text


def peer_query(client: TestClient, tokens: Tokens) -> Any:
    query = patient_json("Q1", contact={"name": "Dr Peer", "href": "https://peer.example.org"})
    answer = client.post(
        "/match",
        json={"patient": query},
        headers={**headers(tokens.peer), "Content-Type": MME_JSON, "Accept": MME_JSON},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def audit(client: TestClient, tokens: Tokens, **query: str) -> list[dict[str, Any]]:
    answer = client.get("/api/admin/audit", params=query, headers=headers(tokens.admin))
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return entries


@pytest.fixture
def shown_around(
    client: TestClient,
    tokens: Tokens,
    node_settings: Settings,
    fault_peers: FaultPeerServer,
) -> TestClient:
    """clinic-a's P1, found by a peer's /match, by clinic-b locally, and sent to a peer."""
    PeerRegistry.in_data_dir(node_settings.data_dir).add(
        fault_peers.peer("healthy", name="healthy", country="GB")
    )
    submit(client, tokens.submitter, patient_json("P1"))
    submit(client, tokens.other_submitter, patient_json("B1"))
    assert peer_query(client, tokens)["results"]
    client.post("/api/patients/B1/match", headers=headers(tokens.other_submitter))
    client.post("/api/patients/P1/match/external", headers=headers(tokens.submitter))
    return client


# ---------------------------------------------------------------- erasure


def test_an_erasure_receipt_names_everyone_who_was_shown_the_patient(
    shown_around: TestClient, tokens: Tokens
) -> None:
    answer = shown_around.delete("/api/patients/P1", headers=headers(tokens.submitter))

    assert answer.status_code == 200
    receipt = answer.json()
    assert (receipt["owner"], receipt["patientId"], receipt["storageWiped"]) == (
        "clinic-a",
        "P1",
        True,
    )
    assert {shown["recipient"] for shown in receipt["shownTo"]} == {
        "peer-node",
        "local:clinic-b",
        "healthy",
    }
    assert receipt["historyRowsErased"] > 0


def test_an_erased_patient_leaves_an_audit_entry_and_the_log_intact(
    shown_around: TestClient, tokens: Tokens
) -> None:
    receipt = shown_around.delete("/api/patients/P1", headers=headers(tokens.submitter)).json()

    (erasure,) = audit(shown_around, tokens, event="erasure")
    assert (erasure["subject"], erasure["actor"]) == (receipt["auditSubject"], "clinic-a")
    assert "P1" not in str(erasure)
    verdict = shown_around.get("/api/admin/audit/verify", headers=headers(tokens.admin)).json()
    assert verdict["ok"] and verdict["firstBad"] is None


def test_an_erased_patient_is_gone_from_matching_and_history(
    shown_around: TestClient, tokens: Tokens, node_settings: Settings
) -> None:
    shown_around.delete("/api/patients/P1", headers=headers(tokens.submitter))

    assert (
        shown_around.get("/api/patients/P1", headers=headers(tokens.submitter)).status_code == 404
    )
    pseudonym = shown_around.app.state.node.sharing.pseudonyms.pseudonym(  # type: ignore[attr-defined]
        "peer-node", "clinic-a", "P1"
    )
    assert pseudonym not in [
        r["patient"]["id"] for r in peer_query(shown_around, tokens)["results"]
    ]
    with sqlite3.connect(node_settings.database_path) as database:
        for table, column in (("match_requests", "patient_id"), ("match_results", "patient_id")):
            count = database.execute(
                f"SELECT count(*) FROM {table} WHERE owner = 'clinic-a' AND {column} = 'P1'"
            ).fetchone()
            assert count == (0,), table
        assert database.execute(
            "SELECT count(*) FROM changes WHERE patient_id = 'P1'"
        ).fetchone() == (0,)


def test_erasing_a_patient_twice_or_someone_elses_is_404(
    shown_around: TestClient, tokens: Tokens
) -> None:
    assert (
        shown_around.delete("/api/patients/P1", headers=headers(tokens.other_submitter)).status_code
        == 404
    )
    assert (
        shown_around.delete("/api/patients/P1", headers=headers(tokens.submitter)).status_code
        == 200
    )
    assert (
        shown_around.delete("/api/patients/P1", headers=headers(tokens.submitter)).status_code
        == 404
    )


def test_an_admin_erases_any_owners_patient(shown_around: TestClient, tokens: Tokens) -> None:
    refused = shown_around.delete(
        "/api/admin/patients/clinic-a/P1", headers=headers(tokens.submitter)
    )
    erased = shown_around.delete("/api/admin/patients/clinic-a/P1", headers=headers(tokens.admin))

    assert refused.status_code == 403
    assert erased.status_code == 200
    assert erased.json()["shownTo"]
    (entry,) = audit(shown_around, tokens, event="erasure")
    assert entry["actor"] == "curator" and entry["details"]["owner"] == "clinic-a"


# ---------------------------------------------------------------- the audit log


def test_every_result_shown_to_a_peer_is_an_entry_without_our_id(
    shown_around: TestClient, tokens: Tokens
) -> None:
    entries = audit(shown_around, tokens, event="disclosure", owner="clinic-a", patientId="P1")

    by_recipient = {entry["recipient"]: entry for entry in entries}
    assert set(by_recipient) == {"peer-node", "local:clinic-b"}
    assert by_recipient["peer-node"]["level"] == "genes"
    assert 0 < by_recipient["peer-node"]["score"] <= 1
    assert all("P1" not in str(entry) for entry in entries)
    (sent,) = audit(shown_around, tokens, event="outbound-request")
    assert (sent["recipient"], sent["actor"]) == ("healthy", "clinic-a")


def test_the_audit_is_read_a_page_at_a_time(shown_around: TestClient, tokens: Tokens) -> None:
    everything = audit(shown_around, tokens)
    first = shown_around.get(
        "/api/admin/audit", params={"limit": 2}, headers=headers(tokens.admin)
    ).json()
    rest = audit(shown_around, tokens, after=str(first["next"]))

    assert [e["seq"] for e in first["entries"] + rest] == [e["seq"] for e in everything]


def test_who_was_shown_a_patient(shown_around: TestClient, tokens: Tokens) -> None:
    answer = shown_around.get(
        "/api/admin/audit/shown",
        params={"owner": "clinic-a", "patientId": "P1"},
        headers=headers(tokens.admin),
    )

    assert {shown["recipient"] for shown in answer.json()["shownTo"]} == {
        "peer-node",
        "local:clinic-b",
        "healthy",
    }


def test_a_tampered_log_is_reported_by_the_admin_api(
    shown_around: TestClient, tokens: Tokens, node_settings: Settings
) -> None:
    with sqlite3.connect(node_settings.database_path) as database:
        database.execute("DROP TRIGGER audit_log_is_append_only_update")
        database.execute(
            "UPDATE audit_log SET entry = replace(entry, 'genes', 'contact') WHERE seq = 1"
        )

    verdict = shown_around.get("/api/admin/audit/verify", headers=headers(tokens.admin)).json()

    assert (verdict["ok"], verdict["firstBad"]) == (False, 1)


def test_a_failed_authentication_is_audited_without_the_token(
    client: TestClient, tokens: Tokens
) -> None:
    wrong = "not-a-real-token-12345"
    assert client.get("/api/patients", headers=headers(wrong)).status_code == 401

    deadline = time.monotonic() + 60  # liveness only
    while not (entries := audit(client, tokens, event="authentication-failed")):
        assert time.monotonic() < deadline, "the failed authentication never reached the log"
        time.sleep(0.05)
    (entry,) = entries
    assert entry["details"] == {"reason": "unknown token", "method": "GET", "path": "/api/patients"}
    assert wrong not in str(entry)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "since"),
        ({"event": "lunch"}, "event"),
        ({"owner": "clinic-a"}, "owner and patientId"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_audit_parameters_are_400_naming_them(
    client: TestClient, tokens: Tokens, params: dict[str, str], message: str
) -> None:
    answer = client.get("/api/admin/audit", params=params, headers=headers(tokens.admin))

    assert answer.status_code == 400
    assert message in answer.json()["message"]


def test_the_audit_is_for_admins_only(client: TestClient, tokens: Tokens) -> None:
    for path in ("/api/admin/audit", "/api/admin/audit/verify", "/api/admin/peers"):
        assert client.get(path, headers=headers(tokens.submitter)).status_code == 403


# ---------------------------------------------------------------- peers' policy


def test_an_admin_sets_a_peers_policy_and_it_is_audited(
    client: TestClient, tokens: Tokens, node_settings: Settings, fault_peers: FaultPeerServer
) -> None:
    PeerRegistry.in_data_dir(node_settings.data_dir).add(
        fault_peers.peer("healthy", name="healthy")
    )

    answer = client.put(
        "/api/admin/peers/healthy/policy",
        json={"country": "FR", "maxDisclosure": "phenotype"},
        headers=headers(tokens.admin),
    )

    assert answer.status_code == 200, answer.text
    assert (answer.json()["country"], answer.json()["maxDisclosure"]) == ("FR", "phenotype")
    listed = client.get("/api/admin/peers", headers=headers(tokens.admin)).json()["peers"]
    assert [(p["name"], p["effectiveMaxDisclosure"]) for p in listed] == [("healthy", "phenotype")]
    assert FAULT_TOKEN not in str(listed)
    (entry,) = audit(client, tokens, event="peer-changed")
    assert entry["details"]["country"] == "FR" and entry["actor"] == "curator"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"country": "France"}, 400),
        ({"maxDisclosure": "everything"}, 400),
        ({"maxDisclosure": {}}, 400),
        ({}, 400),
        ({"colour": "red"}, 400),
    ],
)
def test_a_bad_policy_is_refused_and_changes_nothing(
    client: TestClient,
    tokens: Tokens,
    node_settings: Settings,
    fault_peers: FaultPeerServer,
    body: dict[str, Any],
    status: int,
) -> None:
    registry = PeerRegistry.in_data_dir(node_settings.data_dir)
    registry.add(fault_peers.peer("healthy", name="healthy", country="GB"))

    answer = client.put("/api/admin/peers/healthy/policy", json=body, headers=headers(tokens.admin))

    assert answer.status_code == status
    assert registry.get("healthy").country == "GB"


def test_the_policy_of_an_unknown_peer_is_404(client: TestClient, tokens: Tokens) -> None:
    answer = client.put(
        "/api/admin/peers/nobody/policy", json={"country": "GB"}, headers=headers(tokens.admin)
    )

    assert answer.status_code == 404


def test_an_erasure_cut_short_after_the_record_went_is_finished_by_a_retry(
    shown_around: TestClient, tokens: Tokens, node_settings: Settings
) -> None:
    node = shown_around.app.state.node  # type: ignore[attr-defined]
    shown_around.portal.call(node.patients.delete, "clinic-a", "P1")  # the record alone went

    retried = shown_around.delete("/api/patients/P1", headers=headers(tokens.submitter))

    assert retried.status_code == 200
    assert retried.json()["historyRowsErased"] > 0
    with sqlite3.connect(node_settings.database_path) as database:
        assert database.execute(
            "SELECT count(*) FROM match_results WHERE owner = 'clinic-a' AND patient_id = 'P1'"
        ).fetchone() == (0,)
