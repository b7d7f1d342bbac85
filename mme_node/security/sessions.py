"""Web app sessions, kept on the server: the browser holds only a random session key.

A session is a row of the ``web_sessions`` table of the node's SQLite file,
found by the SHA-256 digest of its key (a copy of the database gives nobody a
usable cookie), with a purpose and an expiry. Keeping sessions here rather
than in a signed cookie is what makes signing out real: a deleted session is
gone, even for someone who copied the cookie; and every worker of a node
sees the same sessions.

Two purposes: ``sign-in`` (a visitor on the sign-in page: its CSRF token and
the pending OpenID Connect state, minutes long) and ``signed-in``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from mme_node.security.tokens import token_digest
from mme_node.stores.database import SerialConnection


class SessionPurpose(StrEnum):
    SIGN_IN = "sign-in"
    SIGNED_IN = "signed-in"


@dataclass(slots=True)
class Session:
    """One session. ``key`` is the cookie value; ``data`` is JSON-serialisable and mutable."""

    key: str
    purpose: SessionPurpose
    expires: datetime
    data: dict[str, Any] = field(default_factory=dict)


class SessionStore:
    """The sessions in the node's database at ``database_path``; safe to share between tasks.

    Database failures are ``ServiceUnavailable`` (503). Each statement is its
    own transaction: no operation here needs two to agree.
    """

    def __init__(self, database_path: Path) -> None:
        self._database = SerialConnection(database_path, "session store")

    def close(self) -> None:
        self._database.close()

    async def create(
        self, purpose: SessionPurpose, lifetime: timedelta, data: dict[str, Any]
    ) -> Session:
        """A new session with a fresh random key; expired sessions are swept on the way."""
        now = datetime.now(UTC)
        session = Session(secrets.token_urlsafe(32), purpose, now + lifetime, dict(data))
        await self._database.run(self._create, session, now)
        return session

    def _create(self, session: Session, now: datetime) -> None:
        with self._database.held() as db:
            db.execute("DELETE FROM web_sessions WHERE expires < ?", (now.isoformat(),))
            db.execute(
                "INSERT INTO web_sessions (id_sha256, purpose, data, created, expires)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    token_digest(session.key),
                    session.purpose.value,
                    json.dumps(session.data),
                    now.isoformat(),
                    session.expires.isoformat(),
                ),
            )

    async def load(self, key: str | None, purpose: SessionPurpose) -> Session | None:
        """The live session of that key and purpose; None if unknown, expired or another purpose."""
        if not key:
            return None
        return await self._database.run(self._load, key, purpose)

    def _load(self, key: str, purpose: SessionPurpose) -> Session | None:
        with self._database.held() as db:
            row = db.execute(
                "SELECT data, expires FROM web_sessions WHERE id_sha256 = ? AND purpose = ?",
                (token_digest(key), purpose.value),
            ).fetchone()
        if row is None:
            return None
        expires = datetime.fromisoformat(row[1])
        if expires <= datetime.now(UTC):
            return None
        return Session(key, purpose, expires, json.loads(row[0]))

    async def save(self, session: Session) -> None:
        """Store the session's current ``data`` (its expiry does not move)."""
        await self._database.run(self._save, session)

    def _save(self, session: Session) -> None:
        with self._database.held() as db:
            db.execute(
                "UPDATE web_sessions SET data = ? WHERE id_sha256 = ?",
                (json.dumps(session.data), token_digest(session.key)),
            )

    async def delete(self, key: str) -> None:
        await self._database.run(self._delete, key)

    def _delete(self, key: str) -> None:
        with self._database.held() as db:
            db.execute("DELETE FROM web_sessions WHERE id_sha256 = ?", (token_digest(key),))
