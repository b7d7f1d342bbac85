"""Responsible sharing end to end: a real ``mme-node serve`` and two peers in two countries.

Our node (a real server on 127.0.0.1, set up with the ``mme-node`` command
line) holds one clinic's patients under different consents. Two peer nodes,
one in GB and one in the US, each call our ``/match`` with their own token and
are our peers for outbound requests (recorded by the fake peer server); the
operator lets GB see everything and the US at most the phenotype. Every
patient matches every query, so each answer shows exactly whom each peer may
see and what, field by field. Then the audit log is verified (and shown to
fail, naming the entry, on copies edited with sqlite3), and one patient is
erased while the server runs: none of its strings survives in the database
file or its write-ahead log.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mme_node.security.audit import AuditLog, StoredEntry
from mme_node.security.keys import NodeKey
from mme_node.security.pseudonyms import Pseudonyms
from tests.federation.node_process import NodeProcess
from tests.peers.fault_peers import TOKEN as FAULT_TOKEN
from tests.peers.fault_peers import FaultPeerServer

MME_JSON = "application/vnd.ga4gh.matchmaker.v1.0+json"
OWNER = "clinic-a"
SEIZURE, MICROCEPHALY, HYPOTONIA = "HP:0001250", "HP:0000252", "HP:0001252"

CONSENTS: dict[str, dict[str, Any] | None] = {
    "all-variants": {"sharing": "all", "disclosure": "variants"},
    "gb-only-genes": {"sharing": "countries", "countries": ["GB"], "disclosure": "genes"},
    "local-only": {"sharing": "local", "disclosure": "variants"},
    "all-phenotype": {"sharing": "all", "disclosure": "phenotype"},
    "all-contact": {"sharing": "all", "disclosure": "contact"},
    "no-consent": None,  # the node default: every peer, up to the genes
    "us-by-duo": {
        "sharing": "all",
        "disclosure": "variants",
        "dataUse": [{"id": "DUO:0000022", "countries": ["US"]}],
    },
}

# What each peer may be shown of each patient (None: never matched for it).
SHOWN = {
    "peer-gb": {
        "all-variants": "variants",
        "gb-only-genes": "genes",
        "local-only": None,
        "all-phenotype": "phenotype",
        "all-contact": "contact",
        "no-consent": "genes",
        "us-by-duo": None,
    },
    "peer-us": {
        "all-variants": "phenotype",
        "gb-only-genes": None,
        "local-only": None,
        "all-phenotype": "phenotype",
        "all-contact": "contact",
        "no-consent": "phenotype",
        "us-by-duo": "phenotype",
    },
}

ERASED = {
    "id": "erase-me-Q7ZX",
    "label": "Twin-B Kowalczyk bed 14",
    "name": "Dr Ottoline Quistgaard",
    "href": "mailto:o.quistgaard@hospital.example",
    "institution": "St Quirinus Hospital Zwolle",
}


def patient(patient_id: str, **contact: str) -> dict[str, Any]:
    """A patient using every field a level may show or hide."""
    return {
        "id": patient_id,
        "label": f"bed of {patient_id}",
        "contact": {"name": f"Dr {patient_id}", "href": f"mailto:{patient_id}@example.org"}
        | contact,
        "sex": "FEMALE",
        "ageOfOnset": "HP:0003577",
        "inheritanceMode": "HP:0000006",
        "disorders": [{"id": "MIM:607208"}],
        "features": [{"id": SEIZURE}, {"id": MICROCEPHALY}, {"id": HYPOTONIA, "observed": "no"}],
        "genomicFeatures": [
            {
                "gene": {"id": "SCN1A"},
                "variant": {
                    "assembly": "GRCh38",
                    "referenceName": "2",
                    "start": 166_000_000,
                    "end": 166_000_001,
                    "referenceBases": "G",
                    "alternateBases": "A",
                },
                "zygosity": 1,
            }
        ],
    }


@dataclass
class Governed:
    node: NodeProcess
    submitter: httpx.Client
    callers: dict[str, httpx.Client]  # peer name -> client with that peer's token
    pseudonyms: Pseudonyms
    answers: dict[str, list[dict[str, Any]]]  # peer name -> results of its first /match
    again: dict[str, list[dict[str, Any]]]  # the same query asked a second time

    def shown_as(self, peer: str, patient_id: str) -> str:
        return self.pseudonyms.pseudonym(peer, OWNER, patient_id)

    def result(self, peer: str, patient_id: str) -> dict[str, Any] | None:
        wanted = self.shown_as(peer, patient_id)
        found = [r["patient"] for r in self.answers[peer] if r["patient"]["id"] == wanted]
        return found[0] if found else None


def ask(client: httpx.Client) -> list[dict[str, Any]]:
    query = {
        "id": "their-case-1",
        "contact": {"name": "Dr Elsewhere", "href": "https://elsewhere.example.org"},
        "features": [{"id": SEIZURE}, {"id": MICROCEPHALY}],
        "genomicFeatures": [{"gene": {"id": "SCN1A"}}],
    }
    answer = client.post(
        "/match",
        json={"patient": query},
        headers={"Content-Type": MME_JSON, "Accept": MME_JSON},
    )
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


@pytest.fixture(scope="module")
def governed(
    tmp_path_factory: pytest.TempPathFactory, shared_hpo_dir: Path, fault_peers: FaultPeerServer
) -> Iterator[Governed]:
    root = tmp_path_factory.mktemp("governance")
    node = NodeProcess("ours", root / "ours", shared_hpo_dir, {"MME_MAX_RESULTS": "20"})
    submitter = node.create_token(OWNER, "submitter")
    tokens = {"peer-gb": node.create_token("gb-token", "peer")}
    tokens["peer-us"] = node.create_token("us-token", "peer")
    for name, country, level, token_name in (
        ("peer-gb", "GB", "variants", "gb-token"),
        ("peer-us", "US", "phenotype", "us-token"),
    ):
        url = fault_peers.peer(f"record/governance-{country}").base_url
        node.cli(
            "peers", "add", name, "--url", url, "--token", FAULT_TOKEN, "--country", country,
            "--max-disclosure", level, "--inbound-token", token_name,
        )  # fmt: skip
    node.start()
    clients: list[httpx.Client] = []
    try:
        node.wait_until_up(tokens["peer-gb"])
        ours = node.client(submitter)
        callers = {peer: node.client(token) for peer, token in tokens.items()}
        clients += [ours, *callers.values()]
        for patient_id, consent in CONSENTS.items():
            body: dict[str, Any] = {"patient": patient(patient_id)}
            if consent is not None:
                body["consent"] = consent
            assert ours.post("/api/patients", json=body).status_code == 201
        erased = patient(ERASED["id"], **{k: ERASED[k] for k in ("name", "href", "institution")})
        erased["label"] = ERASED["label"]
        assert ours.post("/api/patients", json={"patient": erased}).status_code == 201
        yield Governed(
            node=node,
            submitter=ours,
            callers=callers,
            pseudonyms=Pseudonyms.in_data_dir(node.root / "data"),
            answers={peer: ask(client) for peer, client in callers.items()},
            again={peer: ask(client) for peer, client in callers.items()},
        )
    finally:
        for client in clients:
            client.close()
        node.stop()


# ---------------------------------------------------------------- who is matched, what is shown


@pytest.mark.parametrize("peer", ["peer-gb", "peer-us"])
def test_each_peer_is_shown_exactly_the_patients_its_country_may_see(
    governed: Governed, peer: str
) -> None:
    shown = {pid for pid in CONSENTS if governed.result(peer, pid) is not None}

    assert shown == {pid for pid, level in SHOWN[peer].items() if level is not None}


def test_a_local_only_patient_is_returned_to_no_peer(governed: Governed) -> None:
    for peer in governed.answers:
        assert governed.result(peer, "local-only") is None


@pytest.mark.parametrize(
    ("peer", "patient_id"),
    [(peer, pid) for peer, levels in SHOWN.items() for pid, level in levels.items() if level],
)
def test_each_result_shows_exactly_its_level_field_by_field(
    governed: Governed, peer: str, patient_id: str
) -> None:
    level = SHOWN[peer][patient_id]
    shown = governed.result(peer, patient_id)
    assert shown is not None

    assert shown["id"] == governed.shown_as(peer, patient_id) != patient_id
    assert "label" not in shown
    assert shown["contact"]["name"] == f"Dr {patient_id}"
    phenotype = level in ("phenotype", "genes", "variants")
    assert ("sex" in shown, "disorders" in shown, "inheritanceMode" in shown) == (phenotype,) * 3
    if phenotype:
        assert {f["id"] for f in shown["features"]} == {SEIZURE, MICROCEPHALY, HYPOTONIA}
    else:
        assert [f["id"] for f in shown["features"]] == ["HP:0000118"]  # the placeholder
    genomic = shown.get("genomicFeatures", [])
    assert bool(genomic) == (level in ("genes", "variants"))
    assert all(("variant" in g, "zygosity" in g) == ((level == "variants"),) * 2 for g in genomic)


def test_pseudonyms_differ_between_peers_and_stay_the_same_across_requests(
    governed: Governed,
) -> None:
    gb = {r["patient"]["id"] for r in governed.answers["peer-gb"]}
    us = {r["patient"]["id"] for r in governed.answers["peer-us"]}

    assert not gb & us
    for peer in governed.answers:
        first = sorted(r["patient"]["id"] for r in governed.answers[peer])
        assert first == sorted(r["patient"]["id"] for r in governed.again[peer])


def test_our_own_request_follows_the_same_rules_for_each_peer(
    governed: Governed, fault_peers: FaultPeerServer
) -> None:
    outcomes = governed.submitter.post("/api/patients/gb-only-genes/match/external").json()
    by_peer = {o["peer"]: o for o in outcomes["peers"]}
    sent = json.loads(fault_peers.state.last_body["governance-GB"])["patient"]

    assert by_peer["peer-gb"]["error"] is None
    assert by_peer["peer-us"]["error"]["kind"] == "not-shared"
    assert sent["id"] == governed.shown_as("peer-gb", "gb-only-genes")
    assert "label" not in sent
    assert [set(g) for g in sent["genomicFeatures"]] == [{"gene"}]

    governed.submitter.post("/api/patients/all-variants/match/external")
    to_us = json.loads(fault_peers.state.last_body["governance-US"])["patient"]
    assert to_us["id"] == governed.shown_as("peer-us", "all-variants")
    assert "genomicFeatures" not in to_us and "features" in to_us


def test_the_clinician_sees_both_ids_in_the_history(governed: Governed) -> None:
    history = governed.submitter.get("/api/patients/all-variants/matches").json()["matches"]

    shown = {
        (m["peer"], r["shownAs"], r["disclosure"])
        for m in history
        if m["direction"] == "inbound"
        for r in m["results"]
        if r["patientId"] == "all-variants"
    }
    assert ("peer-gb", governed.shown_as("peer-gb", "all-variants"), "variants") in shown
    assert ("peer-us", governed.shown_as("peer-us", "all-variants"), "phenotype") in shown


# ---------------------------------------------------------------- the audit log


def verify_copy(governed: Governed, tmp_path: Path, *statements: str) -> tuple[int, str]:
    """``mme-node audit verify`` on a copy of the node's data dir, edited with sqlite3."""
    data = governed.node.root / "data"
    copy = tmp_path / "copy"
    copy.mkdir()
    source = sqlite3.connect(data / "mme-node.sqlite3")
    target = sqlite3.connect(copy / "mme-node.sqlite3")
    with target:
        source.backup(target)
    source.close()
    shutil.copy(data / "node.key", copy / "node.key")
    with target:
        for statement in statements:
            target.execute(statement)
    target.close()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MME_")}
    env = inherited | governed.node.env | {"MME_DATA_DIR": str(copy)}
    completed = subprocess.run(
        [sys.executable, "-P", "-m", "mme_node.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return completed.returncode, completed.stdout + completed.stderr


def test_audit_verify_passes_on_the_untouched_log(governed: Governed) -> None:
    assert "Audit log intact" in governed.node.cli("audit", "verify")


def test_audit_verify_names_an_entry_edited_with_sqlite3(
    governed: Governed, tmp_path: Path
) -> None:
    code, out = verify_copy(
        governed,
        tmp_path,
        "DROP TRIGGER audit_log_is_append_only_update",
        "UPDATE audit_log SET entry = replace(entry, '\"peer-us\"', '\"peer-xx\"')"
        " WHERE seq = (SELECT min(seq) FROM audit_log WHERE entry LIKE '%\"peer-us\"%')",
    )
    (first_us,) = [
        e.seq for e in governed_entries(governed) if e.document.get("recipient") == "peer-us"
    ][:1]

    assert code == 1
    assert f"entry {first_us} was changed" in out


def test_audit_verify_names_an_entry_deleted_with_sqlite3(
    governed: Governed, tmp_path: Path
) -> None:
    code, out = verify_copy(
        governed,
        tmp_path,
        "DROP TRIGGER audit_log_is_append_only_delete",
        "DELETE FROM audit_log WHERE seq = 9",
    )

    assert code == 1 and "entry 9 was removed" in out


def governed_entries(governed: Governed) -> list[StoredEntry]:
    data = governed.node.root / "data"
    log = AuditLog(data / "mme-node.sqlite3", NodeKey.in_data_dir(data))
    try:
        return list(log.iter_entries())
    finally:
        log.close()


# ---------------------------------------------------------------- erasure


def raw_bytes(governed: Governed) -> bytes:
    """The database file and its write-ahead and index files, as bytes on disk."""
    data = governed.node.root / "data"
    files = [data / f"mme-node.sqlite3{suffix}" for suffix in ("", "-wal", "-shm")]
    return b"".join(path.read_bytes() for path in files if path.exists())


def test_an_erased_patient_survives_nowhere_in_the_database_files(governed: Governed) -> None:
    ask(governed.callers["peer-gb"])  # it is shown to a peer first
    assert governed.node.wait_until_filed() == (0, 0)  # and filed by patient
    with sqlite3.connect(governed.node.root / "data" / "mme-node.sqlite3") as database:
        # As after any checkpoint: the patient is in the main file, not only in the log.
        database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    strings = [value.encode() for value in ERASED.values()]
    before = raw_bytes(governed)
    assert all(text in before for text in strings)  # the check can see them

    answer = governed.submitter.delete(f"/api/patients/{ERASED['id']}")

    receipt = answer.json()
    assert answer.status_code == 200 and receipt["storageWiped"]
    assert [shown["recipient"] for shown in receipt["shownTo"]] == ["peer-gb", "peer-us"]
    after = raw_bytes(governed)
    assert [text for text in strings if text in after] == []
    assert "Audit log intact" in governed.node.cli("audit", "verify")
