"""The token registry: tokens are shown once, stored as digests, checked, revoked."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mme_node.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from mme_node.security.tokens import Role, TokenRegistry, token_digest


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "mme-node.sqlite3"


@pytest.fixture
def registry(database: Path) -> Iterator[TokenRegistry]:
    with TokenRegistry(database) as registry:
        yield registry


def test_created_token_authenticates_as_its_client(registry: TokenRegistry) -> None:
    token = registry.create("clinic-a", Role.SUBMITTER)

    client = registry.authenticate(token)

    assert (client.name, client.role, client.active) == ("clinic-a", Role.SUBMITTER, True)


def test_each_client_gets_a_different_long_random_token(registry: TokenRegistry) -> None:
    first = registry.create("clinic-a", Role.SUBMITTER)
    second = registry.create("peer-b", Role.PEER)

    assert first != second
    assert len(first) >= 43


def test_only_the_sha256_digest_of_a_token_is_stored(
    registry: TokenRegistry, database: Path
) -> None:
    token = registry.create("clinic-a", Role.SUBMITTER)

    dump = "\n".join(sqlite3.connect(database).iterdump())

    assert token not in dump
    assert token_digest(token) in dump


def test_missing_token_is_unauthorized(registry: TokenRegistry) -> None:
    with pytest.raises(Unauthorized):
        registry.authenticate(None)
    with pytest.raises(Unauthorized):
        registry.authenticate("")


def test_unknown_token_is_unauthorized(registry: TokenRegistry) -> None:
    registry.create("clinic-a", Role.SUBMITTER)

    with pytest.raises(Unauthorized, match="unknown token"):
        registry.authenticate("not-a-real-token")


def test_revoked_token_is_unauthorized(registry: TokenRegistry) -> None:
    token = registry.create("clinic-a", Role.SUBMITTER)

    registry.revoke("clinic-a")

    with pytest.raises(Unauthorized, match="revoked"):
        registry.authenticate(token)


def test_revoking_twice_keeps_the_first_date(registry: TokenRegistry) -> None:
    registry.create("clinic-a", Role.SUBMITTER)

    first = registry.revoke("clinic-a")
    second = registry.revoke("clinic-a")

    assert first.revoked_at is not None
    assert second.revoked_at == first.revoked_at


def test_revoking_unknown_client_is_not_found(registry: TokenRegistry) -> None:
    with pytest.raises(NotFound):
        registry.revoke("nobody")


def test_client_names_are_unique_even_after_revocation(registry: TokenRegistry) -> None:
    registry.create("clinic-a", Role.SUBMITTER)
    registry.revoke("clinic-a")

    with pytest.raises(Conflict, match="clinic-a"):
        registry.create("clinic-a", Role.PEER)


@pytest.mark.parametrize("name", ["", "has space", "-leading-dash", "x" * 65, "naïve"])
def test_malformed_client_name_is_invalid(registry: TokenRegistry, name: str) -> None:
    with pytest.raises(InvalidRequest):
        registry.create(name, Role.SUBMITTER)


def test_list_shows_every_client_by_name_with_role_and_status(registry: TokenRegistry) -> None:
    registry.create("peer-b", Role.PEER)
    registry.create("admin", Role.ADMIN)
    registry.create("clinic-a", Role.SUBMITTER)
    registry.revoke("peer-b")

    clients = registry.list()

    assert [(c.name, c.role, c.active) for c in clients] == [
        ("admin", Role.ADMIN, True),
        ("clinic-a", Role.SUBMITTER, True),
        ("peer-b", Role.PEER, False),
    ]


def test_tokens_survive_reopening_the_database(database: Path) -> None:
    with TokenRegistry(database) as registry:
        token = registry.create("clinic-a", Role.SUBMITTER)

    with TokenRegistry(database) as reopened:
        assert reopened.authenticate(token).name == "clinic-a"
