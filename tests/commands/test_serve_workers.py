"""``mme-node serve --workers 2``: two real processes share the port, the index and every write."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.federation.node_process import NodeProcess

MME_JSON = "application/vnd.ga4gh.matchmaker.v1.0+json"
VISIBLE_WITHIN = 1.0
"""The documented bound (docs/serving.md): a write acknowledged by one worker is matched by
every worker once this many seconds have passed."""
FRESH_CONNECTIONS = 24
"""Matches sent each on a new connection: all on one worker by chance has odds of 2**-23."""
HEADER_TIMEOUT = 1.0
"""The workers' header deadline (``MME_HEADER_TIMEOUT``): short, so a slow client is cut fast."""
SLOW_CLIENT_WAITS = 60.0
"""How long a slow client waits for the node's answer: a bound far past the header deadline."""
BOTH_WORKERS_WITHIN = 60.0
"""Seconds of new connections allowed until both workers have answered one. On a loaded
machine an idle worker may win every accept for a while, so the test keeps asking."""
MATCH_LIMIT = 10
"""``rate_limit_match`` of the node whose workers must share it: one more every 6 s."""
CRANIOSYNOSTOSIS = "HP:0001363"
ARACHNODACTYLY = "HP:0001166"


def patient(patient_id: str) -> dict[str, Any]:
    return {
        "id": patient_id,
        "contact": {"name": "Dr. Example", "href": "mailto:clinic@example.org"},
        "features": [{"id": CRANIOSYNOSTOSIS}, {"id": ARACHNODACTYLY}],
    }


@dataclass(frozen=True)
class Served:
    process: NodeProcess
    peer_token: str
    submitter_token: str
    admin_token: str

    def on_fresh_connections(self, send: Callable[[httpx.Client], httpx.Response]) -> list[Any]:
        """``send(client)`` once per new connection (the kernel spreads them over the workers)."""
        answers = []
        for _ in range(FRESH_CONNECTIONS):
            with self.process.client(self.peer_token) as client:
                answer = send(client)
                assert answer.status_code == 200, answer.text
                answers.append(answer.json())
        return answers

    def matched(self) -> list[int]:
        """For each of the fresh connections, how many patients a /match answered.

        (Peers see per-peer pseudonyms, not our ids: the count tells which are there.)
        """
        query = patient("query") | {"contact": {"name": "Peer", "href": "https://p.example"}}
        answers = self.on_fresh_connections(
            lambda client: client.post(
                "/match",
                json={"patient": query},
                headers={"Content-Type": MME_JSON, "Accept": MME_JSON},
            )
        )
        return [len(answer["results"]) for answer in answers]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, shared_hpo_dir: Path) -> Iterator[Served]:
    yield from served_by_two_workers(
        tmp_path_factory, shared_hpo_dir, {"MME_HEADER_TIMEOUT": f"{HEADER_TIMEOUT:g}"}
    )


@pytest.fixture(scope="module")
def limited_node(
    tmp_path_factory: pytest.TempPathFactory, shared_hpo_dir: Path
) -> Iterator[Served]:
    yield from served_by_two_workers(
        tmp_path_factory, shared_hpo_dir, {"MME_RATE_LIMIT_MATCH": str(MATCH_LIMIT)}
    )


def served_by_two_workers(
    tmp_path_factory: pytest.TempPathFactory, shared_hpo_dir: Path, environment: dict[str, str]
) -> Iterator[Served]:
    """A node of two workers with ``environment``, its tokens, until the module is done."""
    process = NodeProcess(
        "workers",
        tmp_path_factory.mktemp("workers"),
        shared_hpo_dir,
        {"MME_WORKERS": "2"} | environment,
    )
    served = Served(
        process,
        peer_token=process.create_token("peer-a", "peer"),
        submitter_token=process.create_token("clinic-a", "submitter"),
        admin_token=process.create_token("curator", "admin"),  # its heartbeat names the worker
    )
    process.start()
    try:
        process.wait_until_up(served.peer_token)
        wait_for_every_worker(process)
        yield served
    finally:
        process.stop()


WORKERS_STARTED_WITHIN = 120.0
"""Generous: on a loaded machine the second worker may start long after the first answers."""


def wait_for_every_worker(process: NodeProcess, workers: int = 2) -> None:
    """Until each worker has finished its start-up (a worker still starting accepts nothing)."""
    deadline = time.monotonic() + WORKERS_STARTED_WITHIN
    while process.log_since_start().count("Application startup complete") < workers:
        assert time.monotonic() < deadline, f"not every worker started:\n{process.log()}"
        time.sleep(0.1)


def wait_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


def test_two_workers_answer_on_one_port(node: Served) -> None:
    workers: set[int] = set()
    asked = 0
    deadline = time.monotonic() + BOTH_WORKERS_WITHIN
    while len(workers) < 2 and time.monotonic() < deadline:
        with node.process.client(node.admin_token) as client:
            answer = client.get("/heartbeat")
        assert answer.status_code == 200, answer.text
        workers.add(answer.json()["heartbeat"]["_worker"])
        asked += 1
        time.sleep(0.02)  # lets a worker busy with the last connection get back to accepting
    assert len(workers) == 2, f"{asked} new connections in {BOTH_WORKERS_WITHIN} s met one worker"


def test_every_worker_cuts_a_client_that_never_finishes_its_headers(node: Served) -> None:
    """The guarded protocol and its settings reach the worker processes, not only one process."""
    host, port = node.process.url.removeprefix("http://").split(":")
    with ExitStack() as open_connections:
        # Each connection stays open while the next ones are made, so the test waits out one
        # header deadline, not one per connection; the pause after each lets the worker that
        # took it wait for connections again, so that each is a fresh draw between workers.
        slow_clients = []
        for _ in range(FRESH_CONNECTIONS):
            slow = socket.create_connection((host, int(port)), timeout=SLOW_CLIENT_WAITS)
            slow_clients.append(open_connections.enter_context(slow))
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no blank line: never ends
            time.sleep(0.05)
        answers = [everything_received(slow).split(b"\r\n")[0] for slow in slow_clients]
    assert answers == [b"HTTP/1.1 408 Request Timeout"] * FRESH_CONNECTIONS


def test_a_peer_has_its_match_limit_once_whichever_worker_answers(limited_node: Served) -> None:
    """The workers count a peer's /match in one shared bucket: not MATCH_LIMIT each."""
    query = patient("query") | {"contact": {"name": "Peer", "href": "https://p.example"}}
    headers = {"Content-Type": MME_JSON, "Accept": MME_JSON}
    answered: dict[int, list[int]] = {}  # worker: statuses of its /match answers
    started = time.monotonic()
    deadline = started + BOTH_WORKERS_WITHIN
    sent = 0
    # Until both workers answered more than the limit: with a bucket each, they would admit
    # twice the limit between them.
    while len(answered) < 2 or min(map(len, answered.values())) <= MATCH_LIMIT:
        assert time.monotonic() < deadline, f"{sent} matches sent; workers: {answered}"
        with limited_node.process.client(limited_node.peer_token) as client:
            admin = {"X-Auth-Token": limited_node.admin_token}
            worker = client.get("/heartbeat", headers=admin).json()["heartbeat"]["_worker"]
            status = client.post("/match", json={"patient": query}, headers=headers).status_code
        answered.setdefault(worker, []).append(status)
        sent += 1
        time.sleep(0.02)  # as above: each new connection a fresh draw between the workers
    refilled = (time.monotonic() - started) * MATCH_LIMIT / 60
    statuses = [status for answers in answered.values() for status in answers]
    assert len(answered) == 2, answered
    assert set(statuses) == {200, 429}, answered
    assert MATCH_LIMIT <= statuses.count(200) <= MATCH_LIMIT + refilled + 1, answered
    assert statuses.count(200) < 2 * MATCH_LIMIT, answered


def everything_received(connection: socket.socket) -> bytes:
    """What the node sent until it closed the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_a_patient_submitted_to_one_worker_is_matched_by_every_worker_within_the_bound(
    node: Served,
) -> None:
    with node.process.client(node.submitter_token) as client:
        stored = client.post("/api/patients", json={"patient": patient("submitted-1")})
    acknowledged = time.monotonic()
    assert stored.status_code in (200, 201), stored.text

    wait_until(acknowledged + VISIBLE_WITHIN)
    assert node.matched() == [1] * FRESH_CONNECTIONS


def test_a_cli_import_is_matched_by_every_worker_within_the_bound(
    node: Served, tmp_path: Path
) -> None:
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([patient("imported-1")]))
    node.process.cli("patients", "import", str(cases), "--owner", "clinic-a")
    acknowledged = time.monotonic()

    wait_until(acknowledged + VISIBLE_WITHIN)
    assert node.matched() == [2] * FRESH_CONNECTIONS


def test_restarted_workers_serve_the_saved_index(node: Served) -> None:
    node.process.stop()
    node.process.start()
    node.process.wait_until_up(node.peer_token)
    wait_for_every_worker(node.process)  # the second may start long after the first answers
    assert node.matched() == [2] * FRESH_CONNECTIONS
    loaded = re.findall(r"match index loaded: (\d+) patients", node.process.log())
    assert loaded[-2:] == ["2", "2"]  # both workers of the restart, from the snapshot
