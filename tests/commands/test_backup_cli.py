"""A served node's files are private, and ``mme-node backup`` copies them while it serves."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.federation.node_process import NodeProcess

CONTACT = {"name": "Dr Backup", "href": "mailto:backup@example.org"}


@pytest.fixture
def node(tmp_path: Path, shared_hpo_dir: Path) -> Iterator[NodeProcess]:
    process = NodeProcess("backup-node", tmp_path / "node", shared_hpo_dir)
    process.start()
    yield process
    process.stop()


def modes(root: Path) -> dict[str, int]:
    found = {".": root.stat().st_mode & 0o777}
    for path in root.rglob("*"):
        if not stat.S_ISLNK(path.lstat().st_mode):
            found[str(path.relative_to(root))] = path.stat().st_mode & 0o777
    return found


def test_data_dir_and_every_file_in_it_are_private_and_backed_up_while_serving(
    node: NodeProcess, tmp_path: Path
) -> None:
    token = node.create_token("clinic-a", "submitter")
    peer = node.create_token("peer-node", "peer")
    node.wait_until_up(peer)
    with node.client(token) as http:
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
    backed_up = modes(tmp_path / "backup")
    assert backed_up.pop(".") == 0o700
    assert all(mode & 0o077 == 0 for mode in backed_up.values())
    assert "permission" not in node.log()


def test_start_up_warns_about_a_data_dir_open_to_others(node: NodeProcess) -> None:
    peer = node.create_token("peer-node", "peer")
    node.wait_until_up(peer)
    node.stop()
    data = node.database_path.parent
    os.chmod(data, 0o755)
    os.chmod(node.database_path, 0o644)
    node.log_path.unlink()
    node.url = ""
    node.start()
    node.wait_until_up(peer)
    assert "are open to other users" in node.log()
    assert f"chmod -R go-rwx {data}" in node.log()
