"""``mme-node doctor`` and ``mme-node peers test``: a node that says what is wrong with it."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from hpo import ReleaseLibrary
from mme_node.cli import main
from mme_node.commands.doctor import Finding, examine
from mme_node.commands.serve import listening_socket
from mme_node.errors import MMEError
from mme_node.peers import PeerRegistry
from mme_node.security.tokens import Role, TokenRegistry
from mme_node.settings import load_settings
from mme_node.stores.changes import ChangeLog
from tests.peers.fault_peers import FaultPeerServer, closed_port


@pytest.fixture
def data_dir(cli_data_dir: Path) -> Path:
    return cli_data_dir


def findings() -> dict[str, Finding]:
    """What the doctor finds about the node of the environment, by topic (the last of a topic)."""
    return {finding.topic: finding for finding in asyncio.run(examine(load_settings()))}


def test_doctor_on_a_node_that_never_ran_warns_and_creates_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"data dir {data_dir}" in out.splitlines()[0]
    assert "first start creates it" in out and "warnings" in out.splitlines()[-1]
    found = findings()
    assert (found["data dir"].level, found["store"].level) == ("warn", "warn")
    assert not data_dir.exists()


def test_doctor_on_a_set_up_node_passes_and_names_the_clients(
    data_dir: Path, fault_peers: FaultPeerServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with TokenRegistry(data_dir / "mme-node.sqlite3") as registry:
        registry.create("clinic-a", Role.SUBMITTER)
    PeerRegistry.in_data_dir(data_dir).add(fault_peers.peer("healthy", name="partner"))
    assert main(["doctor"]) == 0
    found = findings()
    assert {f.level for f in found.values()} == {"ok"}, found
    assert found["clients"].message.startswith("1 submitter")
    assert "up, not production, version fault" in found["peer partner"].message
    assert "private (mode 600)" in found["permissions"].message


def test_doctor_fails_on_an_unreachable_peer_and_warns_on_open_permissions(
    data_dir: Path, fault_peers: FaultPeerServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with TokenRegistry(data_dir / "mme-node.sqlite3") as registry:
        registry.create("clinic-a", Role.SUBMITTER)
    (data_dir / "mme-node.sqlite3").chmod(0o644)
    peers = PeerRegistry.in_data_dir(data_dir)
    peers.add(fault_peers.peer("status/401", name="refuses"))
    peers.add(
        fault_peers.peer("healthy", name="down").replace(
            base_url=f"http://127.0.0.1:{closed_port()}"
        )
    )
    assert main(["doctor"]) == 1
    assert "2 failed, 1 warnings." in capsys.readouterr().out
    found = findings()
    assert found["peer refuses"].level == "FAIL"
    assert "refuses our token" in found["peer refuses"].message
    assert found["peer down"].level == "FAIL" and "unreachable" in found["peer down"].message
    permissions = [f for f in asyncio.run(examine(load_settings())) if f.topic == "permissions"]
    assert [(f.level, "chmod 600" in f.message) for f in permissions] == [
        ("warn", True),  # the database
        ("ok", False),  # peers.toml
    ]


def test_peers_test_shows_the_heartbeat_and_the_answer_to_a_test_patient(
    data_dir: Path, fault_peers: FaultPeerServer, capsys: pytest.CaptureFixture[str]
) -> None:
    PeerRegistry.in_data_dir(data_dir).add(fault_peers.peer("record/link-test", name="partner"))
    PeerRegistry.in_data_dir(data_dir).add(fault_peers.peer("healthy", name="healthy"))
    assert main(["peers", "test", "healthy"]) == 0
    out = capsys.readouterr().out
    assert "ok   GET" in out and "ok   POST" in out
    assert "0.900  remote-1" in out

    assert main(["peers", "test", "partner"]) == 1  # no heartbeat route there
    sent = fault_peers.state.last_body["link-test"]
    assert b'"test": true' in sent


def test_peers_test_explains_a_refused_token(
    data_dir: Path, fault_peers: FaultPeerServer, capsys: pytest.CaptureFixture[str]
) -> None:
    PeerRegistry.in_data_dir(data_dir).add(fault_peers.peer("status/401", name="strict"))
    assert main(["peers", "test", "strict"]) == 1
    out = capsys.readouterr().out
    assert "FAIL POST" in out and "refuses our token" in out


def test_serve_refuses_a_port_in_use_before_starting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MMEError, match=f"port {port} on 127.0.0.1 is already in use"):
            listening_socket("127.0.0.1", port)


def test_doctor_names_the_release_the_node_switched_to(
    data_dir: Path, upgrade_hpo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MME_HPO_DIR_OVERRIDE", str(upgrade_hpo_dir))
    newer = ReleaseLibrary(upgrade_hpo_dir).find("2026-02-16")
    changes = ChangeLog(data_dir / "mme-node.sqlite3")
    asyncio.run(changes.append_release(newer.key, newer.version, "test"))
    changes.close()

    assert findings()["HPO release"].message.startswith("2026-02-16 (19389 terms)")
