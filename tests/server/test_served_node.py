"""``mme-node serve`` applies the connection deadlines, refuses over-size bodies unread, logs
an aborted upload in one line, keeps its files private and backs them up while serving."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.federation.node_process import NodeProcess


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, shared_hpo_dir: Path) -> Iterator[NodeProcess]:
    process = NodeProcess(
        "guarded",
        tmp_path_factory.mktemp("guarded"),
        shared_hpo_dir,
        {"MME_HEADER_TIMEOUT": "0.5", "MME_BODY_TIMEOUT": "0.5", "MME_MAX_BODY_BYTES": "10000"},
    )
    process.submitter = process.create_token("clinic-a", "submitter")  # type: ignore[attr-defined]
    process.start()
    process.wait_until_up(process.create_token("peer-node", "peer"))
    yield process
    process.stop()


CONTACT = {"name": "Dr Backup", "href": "mailto:backup@example.org"}
WAIT = 30.0
"""Liveness bound of a client's read and of a log line's arrival: far past the 0.5 s deadlines."""


def connect(node: NodeProcess) -> socket.socket:
    host, port = node.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=WAIT)


def read_all(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def send_half_a_patient(connection: socket.socket, node: NodeProcess) -> None:
    """The headers of a 5,000-byte submission and its first 19 bytes: no more will come."""
    connection.sendall(
        b"POST /api/patients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"X-Auth-Token: {node.submitter}\r\n".encode()  # type: ignore[attr-defined]
        + b'Content-Length: 5000\r\n\r\n{"patient": {"id": '
    )


def test_an_idle_connection_is_closed_by_the_node(node: NodeProcess) -> None:
    with connect(node) as connection:
        answer = read_all(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request headers not received within 0.5 s" in answer


def test_an_over_size_declared_body_is_refused_before_it_is_sent(node: NodeProcess) -> None:
    with connect(node) as connection:
        connection.sendall(
            b"POST /api/patients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"X-Auth-Token: {node.submitter}\r\n".encode()  # type: ignore[attr-defined]
            + b"Content-Length: 50000000\r\n\r\n"
        )
        answer = connection.recv(65536)
        while not answer.endswith(b"}"):
            answer += connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"larger than the limit of 10000 bytes" in answer


def test_a_body_past_its_deadline_is_408_and_logged_without_a_traceback(
    node: NodeProcess,
) -> None:
    lines_before = len(node.log().splitlines())
    with connect(node) as connection:
        send_half_a_patient(connection, node)
        assert read_all(connection).startswith(b"HTTP/1.1 408 ")
    new = log_lines_until(node, lines_before, "request body not received within 0.5 s")
    assert "Traceback" not in "\n".join(new)


def test_an_aborted_upload_is_one_info_line_without_a_traceback(node: NodeProcess) -> None:
    lines_before = len(node.log().splitlines())
    with connect(node) as connection:
        send_half_a_patient(connection, node)
        time.sleep(0.05)  # well within the body deadline: the client hangs up first
    new = log_lines_until(node, lines_before, "hung up")
    assert len(new) == 1, new
    assert "INFO" in new[0]


def log_lines_until(node: NodeProcess, lines_before: int, wanted: str) -> list[str]:
    """The node's log lines after the first ``lines_before``, once one of them has ``wanted``."""
    deadline = time.monotonic() + WAIT
    while True:
        new = node.log().splitlines()[lines_before:]
        if any(wanted in line for line in new):
            return new
        assert time.monotonic() < deadline, f"no log line with {wanted!r}: {new}"
        time.sleep(0.05)


def modes(root: Path) -> dict[str, int]:
    found = {".": root.stat().st_mode & 0o777}
    for path in root.rglob("*"):
        if not stat.S_ISLNK(path.lstat().st_mode):
            found[str(path.relative_to(root))] = path.stat().st_mode & 0o777
    return found


def test_data_dir_and_every_file_in_it_are_private_and_backed_up_while_serving(
    node: NodeProcess, tmp_path: Path
) -> None:
    with node.client(node.submitter) as http:  # type: ignore[attr-defined]
        for i in range(20):
            patient = {"id": f"P{i}", "contact": CONTACT, "features": [{"id": "HP:0001250"}]}
            assert http.post("/api/patients", json={"patient": patient}).status_code == 201
        data = node.database_path.parent
        found = modes(data)
        assert {"mme-node.sqlite3-wal", "mme-node.sqlite3-shm"} <= found.keys()
        assert found.pop(".") == 0o700
        assert {name: mode for name, mode in found.items() if mode & 0o077} == {}

        node.cli("backup", str(tmp_path / "backup"))
        more = {"id": "P20", "contact": CONTACT, "features": [{"id": "HP:0001250"}]}
        assert http.post("/api/patients", json={"patient": more}).status_code == 201

    with sqlite3.connect(tmp_path / "backup" / "mme-node.sqlite3") as copy:
        assert copy.execute("SELECT count(*) FROM patients").fetchone() == (20,)
    copy.close()
    backed_up = modes(tmp_path / "backup")
    assert backed_up.pop(".") == 0o700
    assert all(mode & 0o077 == 0 for mode in backed_up.values())
    assert "permission" not in node.log()


def test_the_serving_node_files_what_it_disclosed_by_patient_in_the_background(
    node: NodeProcess,
) -> None:
    """An answer leaves before its results and audit entries are filed by patient; the
    node's late filing files them within seconds (docs/storage.md, "Late filing")."""
    with node.client(node.submitter) as http:  # type: ignore[attr-defined]
        patient = {"id": "FILED-1", "contact": CONTACT, "features": [{"id": "HP:0001166"}]}
        assert http.post("/api/patients", json={"patient": patient}).status_code == 201
    query = {"id": "Q-FILED", "contact": CONTACT, "features": [{"id": "HP:0001166"}]}
    with node.client(node.create_token("peer-filing", "peer")) as http:
        media = "application/vnd.ga4gh.matchmaker.v1.0+json"
        answer = http.post(
            "/match",
            content=json.dumps({"patient": query}),
            headers={"Content-Type": media, "Accept": media},
        )
    assert answer.status_code == 200
    assert answer.json()["results"]

    assert node.wait_until_filed(WAIT) == (0, 0)
    with contextlib.closing(sqlite3.connect(node.database_path)) as db:
        filed = db.execute(
            "SELECT count(*) FROM match_results_filed WHERE patient_id = 'FILED-1'"
        ).fetchone()
    assert filed == (1,)
