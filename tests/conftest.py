"""Fixtures shared across the suite: one compiled HPO release, nodes on real files."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpo import Release, ReleaseLibrary
from mme_node.settings import Settings, load_settings
from tests.federation.mail_sink import MailSink
from tests.peers.fault_peers import FaultPeerServer

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared"
"""The team's test data beside the project root (``../shared``), as in CI."""

HPO_2026 = SHARED_DATA / "hpo" / "extra" / "hp-2026-02-16.obo.gz"
"""The newer, ontology-only HPO release of the test data."""


@pytest.fixture(scope="session")
def shared_hpo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled HPO release compiled once for the whole run (nodes share it)."""
    root = tmp_path_factory.mktemp("hpo-releases")
    ReleaseLibrary(root).active()
    return root


@pytest.fixture(scope="session")
def bundled_release(shared_hpo_dir: Path) -> Release:
    return ReleaseLibrary(shared_hpo_dir).active()


@pytest.fixture(scope="session")
def upgrade_hpo_dir(shared_hpo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled release and HPO 2026-02-16 (ontology only, borrowing the bundled
    annotations), compiled once for the whole run; no release is activated in it."""
    root = tmp_path_factory.mktemp("hpo-upgrade") / "hpo"
    shutil.copytree(shared_hpo_dir, root)
    ReleaseLibrary(root).compile(HPO_2026, borrow_annotations=True)
    return root


@pytest.fixture
def node_settings(tmp_path: Path, shared_hpo_dir: Path) -> Iterator[Settings]:
    """Settings of a fresh node: its own data dir (real SQLite file), the shared HPO cache."""
    yield load_settings(environ={}).replace(
        data_dir=tmp_path / "node-data", hpo_dir_override=shared_hpo_dir
    )


@pytest.fixture(scope="session")
def fault_peers() -> Iterator[FaultPeerServer]:
    """One server of fake peers on 127.0.0.1 (healthy, failing, recording) for the run."""
    server = FaultPeerServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mail_server() -> Iterator[MailSink]:
    """One real SMTP server on 127.0.0.1 for every notification test of the run."""
    server = MailSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail(mail_server: MailSink) -> MailSink:
    """The SMTP server, emptied of earlier tests' messages."""
    mail_server.clear()
    return mail_server
