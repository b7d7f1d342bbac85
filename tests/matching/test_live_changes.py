"""A real server follows what other processes change on its data dir (the change feed).

One ``mme-node serve`` on 127.0.0.1 for the module, on the two real HPO
releases (2026-02-16 compiled once per session): a CLI import is matched
without restart; an HPO upgrade (``mme-node hpo load``) and a rollback (admin
API) happen live while a client sends ``/match`` continuously, and no
request fails.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from matching_samples import patient_json

from mme_node.matching.follower import POLL_INTERVAL
from mme_node.security.pseudonyms import Pseudonyms
from tests.conftest import HPO_2026
from tests.federation.node_process import NodeProcess

MME_JSON = "application/vnd.ga4gh.matchmaker.v1.0+json"
CRANIOSYNOSTOSIS = "HP:0001363"
ARACHNODACTYLY = "HP:0001166"


@dataclass
class LiveNode:
    process: NodeProcess
    peer: httpx.Client
    submitter: httpx.Client
    admin: httpx.Client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upgrade_hpo_dir: Path) -> Iterator[LiveNode]:
    node = NodeProcess("live", tmp_path_factory.mktemp("live-changes"), upgrade_hpo_dir)
    peer = node.create_token("peer-a", "peer")
    submitter = node.create_token("clinic-a", "submitter")  # also owns the imported patients
    admin = node.create_token("curator", "admin")
    node.start()
    try:
        node.wait_until_up(peer)
        with node.client(peer) as p, node.client(submitter) as s, node.client(admin) as a:
            yield LiveNode(node, p, s, a)
    finally:
        node.stop()


def matched(client: httpx.Client, *terms: str) -> list[str]:
    body: dict[str, Any] = {"patient": patient_json("query", terms)}
    response = client.post(
        "/match", json=body, headers={"Content-Type": MME_JSON, "Accept": MME_JSON}
    )
    assert response.status_code == 200, response.text
    return [result["patient"]["id"] for result in response.json()["results"]]


def shown_to_peer(server: LiveNode, patient_id: str) -> str:
    """The pseudonym under which peer-a sees clinic-a's patient."""
    pseudonyms = Pseudonyms.in_data_dir(server.process.root / "data")
    return pseudonyms.pseudonym("peer-a", "clinic-a", patient_id)


def wait_for(condition: Any, what: str) -> float:
    """Seconds until ``condition()`` holds; fails after a generous deadline (liveness only)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < 60, f"never happened: {what}"
        time.sleep(POLL_INTERVAL / 4)
    return time.monotonic() - start


def test_a_cli_import_into_the_data_dir_is_matched_without_restart(
    server: LiveNode, tmp_path: Path
) -> None:
    node, client = server.process, server.peer
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([patient_json("imported-1", [CRANIOSYNOSTOSIS, ARACHNODACTYLY])]))
    shown = shown_to_peer(server, "imported-1")
    assert shown not in matched(client, CRANIOSYNOSTOSIS, ARACHNODACTYLY)

    node.cli("patients", "import", str(cases), "--owner", "clinic-a")

    wait_for(
        lambda: shown in matched(client, CRANIOSYNOSTOSIS, ARACHNODACTYLY),
        "the running server matches the imported patient",
    )


def test_an_erasure_on_the_command_line_reaches_the_server_without_a_rebuild(
    server: LiveNode,
) -> None:
    node, client = server.process, server.peer
    patient = patient_json("erased-9c", [CRANIOSYNOSTOSIS, ARACHNODACTYLY])
    assert server.submitter.post("/api/patients", json={"patient": patient}).status_code == 201
    shown = shown_to_peer(server, "erased-9c")
    assert shown in matched(client, CRANIOSYNOSTOSIS, ARACHNODACTYLY)
    logged_before = len(node.log())

    node.cli("patients", "delete", "erased-9c", "--owner", "clinic-a")  # another process

    wait_for(
        lambda: shown not in matched(client, CRANIOSYNOSTOSIS, ARACHNODACTYLY),
        "the running server stops matching the erased patient",
    )
    wait_for(lambda: "erasure" in node.log()[logged_before:], "the server applies the erasure")
    logged = node.log()[logged_before:]
    assert re.search(r"change feed: erasure \d+ applied", logged), logged
    assert "reloading every patient" not in logged  # one row removed, no rebuild
    with closing(sqlite3.connect(node.database_path)) as database:
        rows = database.execute("SELECT * FROM changes").fetchall()
    assert not [row for row in rows if "erased-9c" in row]
    assert ("erasure", "clinic-a") in [(row[2], row[3]) for row in rows]


# -- HPO releases, live ---------------------------------------------------------------------

CEREBELLAR_MALFORMATION = "HP:0002438"  # obsolete in 2026-02-16, replaced by
ABNORMAL_CEREBELLUM = "HP:0001317"
RADIAL_CLUB_HAND = "HP:0004059"  # obsolete in 2026-02-16, replaced by
RADIAL_RAY_DEFICIENCY = "HP:0006433"
NEWER_TERM = "HP:0025834"  # unknown to 2025-01-16
WITHOUT_SUCCESSOR = "HP:0025237"  # obsolete in 2026-02-16, no single successor
SEIZURE = "HP:0001250"


class MatchLoad:
    """A client sending /match without pause in a thread, recording every answer."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.statuses: list[int] = []
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = {"patient": patient_json("load", [ABNORMAL_CEREBELLUM, SEIZURE])}
        headers = {"Content-Type": MME_JSON, "Accept": MME_JSON}
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status = self.client.post("/match", json=body, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            self.longest = max(self.longest, time.monotonic() - started)
            self.statuses.append(status)

    def __enter__(self) -> MatchLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def serving(client: httpx.Client) -> str:
    """The HPO release the node serves (an admin's heartbeat shows it)."""
    release: str = client.get("/heartbeat").json()["heartbeat"]["_hpoRelease"]
    return release


def test_an_upgrade_and_a_rollback_under_load_fail_no_request_and_lose_no_term(
    server: LiveNode,
) -> None:
    for patient in (
        patient_json("P1", [CEREBELLAR_MALFORMATION, RADIAL_CLUB_HAND]),
        patient_json("P2", [NEWER_TERM, SEIZURE]),
        patient_json("P3", [WITHOUT_SUCCESSOR, SEIZURE]),
    ):
        answer = server.submitter.post("/api/patients", json={"patient": patient})
        assert answer.status_code == 201, answer.text
    assert serving(server.admin) == "2025-01-16"
    p1, p2 = shown_to_peer(server, "P1"), shown_to_peer(server, "P2")
    peer_load = httpx.Client(
        base_url=server.process.url, headers=dict(server.peer.headers), timeout=60
    )

    with peer_load, MatchLoad(peer_load) as load:
        server.process.cli("hpo", "load", str(HPO_2026))  # compiled already: verified, reused
        wait_for_release(server.admin, "2026-02-16")
        assert matched(server.peer, ABNORMAL_CEREBELLUM, RADIAL_RAY_DEFICIENCY)[0] == p1
        assert matched(server.peer, NEWER_TERM)[0] == p2  # the pending term is active

        back = server.admin.post("/api/admin/hpo/releases/2025-01-16/activate")

        assert back.status_code == 200, back.text
        assert back.json()["serving"] == "2025-01-16"
        assert matched(server.peer, CEREBELLAR_MALFORMATION, RADIAL_CLUB_HAND)[0] == p1

    assert load.statuses and set(load.statuses) == {200}, set(load.statuses)
    reports = server.admin.get("/api/admin/hpo/reports").json()["reports"]
    upgrade = server.admin.get(f"/api/admin/hpo/reports/{reports[1]['seq']}").json()
    assert upgrade["to"]["version"] == "2026-02-16"
    assert upgrade["unresolvedByOwner"] == {
        "clinic-a": [
            {"patientId": "P3", "terms": [WITHOUT_SUCCESSOR], "notCarriedOver": [WITHOUT_SUCCESSOR]}
        ]
    }
    assert {"from": CEREBELLAR_MALFORMATION, "to": ABNORMAL_CEREBELLUM, "patients": 1} in (
        upgrade["replacedTerms"]
    )
    notices = server.submitter.get("/api/notices").json()  # newest first
    # P3's term was lost on the upgrade, P2's newer term on the rollback
    assert [n["patientId"] for n in notices["notices"]] == ["P2", "P3"] and notices["unseen"] == 2


def wait_for_release(client: httpx.Client, version: str) -> None:
    start = time.monotonic()
    while serving(client) != version:
        assert time.monotonic() - start < 120, f"the server never switched to {version}"
        time.sleep(POLL_INTERVAL)
