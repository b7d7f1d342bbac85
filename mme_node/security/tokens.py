"""Client tokens and roles: who may call the node, and as what.

A client (a submitting clinic, a peer node, an administrator) is known by a
unique name and holds one random token, shown once when created. The node
keeps only the token's SHA-256 digest, in the ``clients`` table of the node's
SQLite file, so a copy of the database does not give anyone a usable token.

Why authentication is constant-time with respect to the secret: the token is
hashed first and only its digest is looked up. What an index lookup may leak
through timing is how the *digest* of the presented value compares with the
stored digests; learning digest bits does not help forge a token, because
finding a token with a chosen digest means inverting SHA-256. The final
equality check uses :func:`hmac.compare_digest` all the same.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from mme_node.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from mme_node.stores.database import SerialConnection

CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Client names become patient owners and appear in logs: keep them plain."""

_COLUMNS = "name, role, token_sha256, created, revoked_at"


class Role(StrEnum):
    """What a client may do: submit patients, match as a peer node, or administer."""

    SUBMITTER = "submitter"
    PEER = "peer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Client:
    """A registered caller. For a submitter, ``name`` is the owner of its patients."""

    name: str
    role: Role
    created: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenRegistry:
    """The clients registered in the node's database at ``database_path``.

    Opens its connection on first use; safe to share between threads. Every
    call is one short indexed query, cheap enough to make on each request.
    """

    def __init__(self, database_path: Path) -> None:
        self.database_path = database_path
        self._database = SerialConnection(database_path, "client registry")

    def __enter__(self) -> TokenRegistry:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._database.close()

    def create(self, name: str, role: Role) -> str:
        """Register a client and return its new token (the only time it is seen).

        ``InvalidRequest`` for a malformed name, ``Conflict`` if the name is
        taken (revoked clients keep their name).
        """
        if not CLIENT_NAME.fullmatch(name):
            raise InvalidRequest(
                f"invalid client name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        token = secrets.token_urlsafe(32)
        with self._database.held() as connection:
            try:
                connection.execute(
                    "INSERT INTO clients (name, role, token_sha256, created) VALUES (?, ?, ?, ?)",
                    (name, role.value, token_digest(token), datetime.now(UTC).isoformat()),
                )
            except sqlite3.IntegrityError as error:
                raise Conflict(f"a client named {name!r} already exists") from error
        return token

    def authenticate(self, token: str | None) -> Client:
        """The active client holding ``token``, or ``Unauthorized``."""
        if not token:
            raise Unauthorized("no token given")
        digest = token_digest(token)
        with self._database.held() as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM clients WHERE token_sha256 = ?", (digest,)
            ).fetchone()
        if row is None or not hmac.compare_digest(row[2], digest):
            raise Unauthorized("unknown token")
        client = _client(row)
        if not client.active:
            raise Unauthorized("token has been revoked")
        return client

    def get(self, name: str) -> Client:
        """The client of that name, revoked or not (``NotFound``)."""
        with self._database.held() as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM clients WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no client named {name!r}")
        return _client(row)

    def list(self) -> tuple[Client, ...]:
        """Every registered client, revoked ones included, by name."""
        with self._database.held() as connection:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM clients ORDER BY name").fetchall()
        return tuple(map(_client, rows))

    def revoke(self, name: str) -> Client:
        """Revoke a client's token for good; revoking twice keeps the first date.

        ``NotFound`` for an unknown name.
        """
        with self._database.held() as connection:
            connection.execute(
                "UPDATE clients SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), name),
            )
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM clients WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no client named {name!r}")
        return _client(row)


def _client(row: tuple[str, str, str, str, str | None]) -> Client:
    name, role, _, created, revoked_at = row
    return Client(
        name=name,
        role=Role(role),
        created=datetime.fromisoformat(created),
        revoked_at=datetime.fromisoformat(revoked_at) if revoked_at else None,
    )
