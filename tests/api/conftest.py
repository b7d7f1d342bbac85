"""An in-process node (real SQLite file, bundled HPO) and tokens of every role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_samples import Tokens
from starlette.testclient import TestClient

from mme_node.app import create_app
from mme_node.security import Role, TokenRegistry
from mme_node.settings import Settings


@pytest.fixture
def tokens(node_settings: Settings) -> Tokens:
    node_settings.data_dir.mkdir(parents=True, exist_ok=True)
    with TokenRegistry(node_settings.database_path) as registry:
        return Tokens(
            submitter=registry.create("clinic-a", Role.SUBMITTER),
            other_submitter=registry.create("clinic-b", Role.SUBMITTER),
            peer=registry.create("peer-node", Role.PEER),
            admin=registry.create("curator", Role.ADMIN),
        )


@pytest.fixture
def client(node_settings: Settings, tokens: Tokens) -> Iterator[TestClient]:
    with TestClient(create_app(node_settings)) as test_client:
        yield test_client
