"""Fixtures of the federation tests: a closed port, a patient (fault peers: tests/conftest.py)."""

from __future__ import annotations

import pytest
from fault_peers import ANSWERS_WITHIN, TOKEN, closed_port

from mme_node.model import Contact, Feature, Patient
from mme_node.peers import Peer


@pytest.fixture(scope="session")
def refusing_peer() -> Peer:
    return Peer(
        name="refusing",
        base_url=f"http://127.0.0.1:{closed_port()}",
        token=TOKEN,
        timeout=ANSWERS_WITHIN,
    )


@pytest.fixture(scope="session")
def local_patient() -> Patient:
    return Patient(
        id="local-1",
        contact=Contact(name="Dr Local", href="mailto:local@example.org"),
        features=(Feature("HP:0001250"), Feature("HP:0001263", observed=False)),
    )
