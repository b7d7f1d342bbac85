"""Web sessions on a real SQLite file: keys kept as digests, purposes, expiry, deletion."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mme_node.security.sessions import SessionPurpose, SessionStore
from mme_node.security.tokens import token_digest

HOUR = timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    sessions = SessionStore(tmp_path / "node.sqlite3")
    yield sessions
    sessions.close()


def test_a_created_session_loads_with_its_data(store: SessionStore) -> None:
    created = asyncio.run(store.create(SessionPurpose.SIGNED_IN, HOUR, {"client": "clinic-a"}))
    loaded = asyncio.run(store.load(created.key, SessionPurpose.SIGNED_IN))
    assert loaded is not None and loaded.data == {"client": "clinic-a"}


def test_the_database_holds_only_the_keys_digest(store: SessionStore, tmp_path: Path) -> None:
    created = asyncio.run(store.create(SessionPurpose.SIGNED_IN, HOUR, {}))
    with sqlite3.connect(tmp_path / "node.sqlite3") as db:
        (stored,) = db.execute("SELECT id_sha256 FROM web_sessions").fetchone()
    assert stored == token_digest(created.key) and created.key not in stored


def test_a_session_of_another_purpose_or_key_is_not_found(store: SessionStore) -> None:
    created = asyncio.run(store.create(SessionPurpose.SIGN_IN, HOUR, {}))
    assert asyncio.run(store.load(created.key, SessionPurpose.SIGNED_IN)) is None
    assert asyncio.run(store.load(created.key + "x", SessionPurpose.SIGN_IN)) is None
    assert asyncio.run(store.load(None, SessionPurpose.SIGN_IN)) is None


def test_an_expired_session_is_not_found(store: SessionStore) -> None:
    created = asyncio.run(store.create(SessionPurpose.SIGNED_IN, timedelta(seconds=-1), {}))
    assert asyncio.run(store.load(created.key, SessionPurpose.SIGNED_IN)) is None


def test_saved_data_is_what_the_next_load_sees(store: SessionStore) -> None:
    created = asyncio.run(store.create(SessionPurpose.SIGN_IN, HOUR, {"csrf": "a"}))
    created.data["next"] = "/app/inbox"
    asyncio.run(store.save(created))
    loaded = asyncio.run(store.load(created.key, SessionPurpose.SIGN_IN))
    assert loaded is not None and loaded.data == {"csrf": "a", "next": "/app/inbox"}


def test_a_deleted_session_is_gone(store: SessionStore) -> None:
    created = asyncio.run(store.create(SessionPurpose.SIGNED_IN, HOUR, {}))
    asyncio.run(store.delete(created.key))
    assert asyncio.run(store.load(created.key, SessionPurpose.SIGNED_IN)) is None


def test_creating_a_session_sweeps_expired_ones(store: SessionStore, tmp_path: Path) -> None:
    asyncio.run(store.create(SessionPurpose.SIGNED_IN, timedelta(seconds=-1), {}))
    asyncio.run(store.create(SessionPurpose.SIGNED_IN, HOUR, {}))
    with sqlite3.connect(tmp_path / "node.sqlite3") as db:
        (count,) = db.execute("SELECT count(*) FROM web_sessions").fetchone()
    assert count == 1
