"""The change feed: what changed in the node's SQLite file, in commit order.

Every acknowledged patient write of the SQLite store appends a row to the
``changes`` table inside the write's own transaction (see
:mod:`mme_node.stores.sqlite`), and every HPO release activation appends one
through :meth:`ChangeLog.append_release`. SQLite has one writer at a time, so
``seq`` grows in commit order: a process that remembers the last seq it applied
asks for everything after it and never misses a change, whichever process
(server worker, command line) made it. ``docs/storage.md`` ("Change feed")
describes how running processes use it.

An erasure (:meth:`ChangeLog.forget_patient`) deletes every change naming
the patient and, in the same transaction, appends an *erasure* row naming it
only by its audit subject (the keyed digest the audit log already uses):
a follower that holds the patient finds it by that digest among its own
keys and drops that one row, instead of rebuilding everything.

Patient and erasure rows are pruned after :data:`PATIENT_CHANGE_RETENTION`
(a follower applies them within a second); release rows are kept forever,
as the history of activations. A reader that fell behind the pruning
horizon is told so (:attr:`ChangeBatch.missed`) and must rebuild its state
from the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mme_node.model import PatientRecord
from mme_node.stores.database import SerialConnection
from mme_node.stores.sqlite import RECORD_COLUMNS, record_from_row

PATIENT_CHANGE_RETENTION = timedelta(minutes=10)
"""How long a patient change stays readable; a follower more than this far behind reloads."""

_CHANGE_COLUMNS = "c.seq, c.kind, c.created, c.owner, c.patient_id, c.release_key, \
c.release_version, c.actor, c.subject"

_READ = f"""
    SELECT {_CHANGE_COLUMNS}, {", ".join("p." + column for column in RECORD_COLUMNS)}
    FROM changes c LEFT JOIN patients p
        ON c.kind = 'patient' AND p.owner = c.owner AND p.patient_id = c.patient_id
    WHERE c.seq > ? ORDER BY c.seq LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class PatientChange:
    """A patient was created, replaced or deleted at ``seq``.

    ``record`` is the patient as stored when the change was *read* (None if it
    is gone), not as it was at ``seq``: applying changes in order always ends
    on the latest state, and applying one twice is harmless.
    """

    seq: int
    owner: str
    patient_id: str
    record: PatientRecord | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.owner, self.patient_id)


@dataclass(frozen=True, slots=True)
class ReleaseChange:
    """The compiled HPO release ``release_key`` became the node's active release at ``seq``."""

    seq: int
    release_key: str
    release_version: str
    created: datetime
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class ErasureChange:
    """``owner``'s patient with the audit subject ``subject`` was erased before ``seq``.

    Every change naming the patient is gone from the log; this one names it
    only by the keyed digest, which the processes holding the patient can
    match against their own keys (:meth:`Pseudonyms.find_subject`).
    """

    seq: int
    owner: str
    subject: str


Change = PatientChange | ReleaseChange | ErasureChange


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Changes after a reader's position, in seq order.

    ``through`` is the reader's new position once it applied them. ``missed``
    means patient changes the reader has not seen were pruned: it must rebuild
    its state from the store (and may then skip to ``through``).
    """

    changes: tuple[Change, ...]
    through: int
    missed: bool = False


class ChangeLog:
    """Reads the feed of the node's database file; appends release activations and erasures."""

    def __init__(self, database_path: Path) -> None:
        self._database = SerialConnection(database_path, "change log")

    def close(self) -> None:
        self._database.close()

    async def latest(self) -> int:
        """The highest seq ever written (0 for a new file): one indexed lookup."""
        return await self._database.run(self._latest)

    async def read(self, after: int, limit: int = 1000) -> ChangeBatch:
        """At most ``limit`` changes with a seq above ``after``, oldest first."""
        return await self._database.run(self._read, after, limit)

    async def append_release(
        self,
        release_key: str,
        release_version: str,
        actor: str | None = None,
        within: Callable[[sqlite3.Connection, int], None] | None = None,
    ) -> ReleaseChange:
        """Record that ``release_key`` is now the active release (durable on return).

        ``within(connection, seq)`` runs in the same transaction, so that what
        belongs to the activation (its report) lands with it or not at all.
        """
        return await self._database.run(
            self._append_release, release_key, release_version, actor, within
        )

    async def active_release(self) -> ReleaseChange | None:
        """The latest release activation, None if this node never recorded one."""
        releases = await self._database.run(self._releases, 1)
        return releases[0] if releases else None

    async def releases(self, limit: int = 100) -> list[ReleaseChange]:
        """The latest ``limit`` release activations, newest first."""
        return await self._database.run(self._releases, limit)

    async def forget_patient(self, owner: str, patient_id: str, subject: str) -> int:
        """Erase every change naming the patient (erasure); returns how many went.

        In the same transaction an erasure change naming the patient only by
        its audit ``subject`` is appended, so that a process that had not
        applied the deletion yet still drops the patient, by that digest,
        without a rebuild.
        """
        return await self._database.run(self._forget_patient, owner, patient_id, subject)

    async def prune(self, now: datetime | None = None) -> int:
        """Drop patient and erasure changes older than the retention; returns how many went."""
        return await self._database.run(self._prune, now or datetime.now(UTC))

    def _latest(self) -> int:
        # AUTOINCREMENT keeps the highest seq ever used in sqlite_sequence, which
        # does not go back when the newest rows are pruned (max(seq) would).
        with self._database.transaction() as connection:
            row = connection.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'changes'"
            ).fetchone()
        return int(row[0]) if row else 0

    def _read(self, after: int, limit: int) -> ChangeBatch:
        with self._database.transaction() as connection:
            (horizon,) = connection.execute("SELECT pruned_through FROM change_horizon").fetchone()
            rows = connection.execute(_READ, (after, limit)).fetchall()
        changes = tuple(_change(row) for row in rows)
        through = changes[-1].seq if changes else after
        return ChangeBatch(changes, max(through, after), missed=after < horizon)

    def _append_release(
        self,
        release_key: str,
        release_version: str,
        actor: str | None,
        within: Callable[[sqlite3.Connection, int], None] | None,
    ) -> ReleaseChange:
        created = datetime.now(UTC)
        with self._database.transaction("IMMEDIATE") as connection:
            (seq,) = connection.execute(
                "INSERT INTO changes (created, kind, release_key, release_version, actor)"
                " VALUES (?, 'release', ?, ?, ?) RETURNING seq",
                (created.isoformat(), release_key, release_version, actor),
            ).fetchone()
            if within is not None:
                within(connection, seq)
        return ReleaseChange(seq, release_key, release_version, created, actor)

    def _releases(self, limit: int) -> list[ReleaseChange]:
        with self._database.transaction() as connection:
            rows = connection.execute(
                "SELECT seq, release_key, release_version, created, actor FROM changes"
                " WHERE kind = 'release' ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            ReleaseChange(seq, key, version, datetime.fromisoformat(created), actor)
            for seq, key, version, created, actor in rows
        ]

    def _forget_patient(self, owner: str, patient_id: str, subject: str) -> int:
        with self._database.transaction("IMMEDIATE") as connection:
            forgotten = connection.execute(
                "DELETE FROM changes WHERE kind = 'patient' AND owner = ? AND patient_id = ?",
                (owner, patient_id),
            ).rowcount
            connection.execute(
                "INSERT INTO changes (created, kind, owner, subject) VALUES (?, 'erasure', ?, ?)",
                (datetime.now(UTC).isoformat(), owner, subject),
            )
        return int(forgotten)

    def _prune(self, now: datetime) -> int:
        cutoff = (now - PATIENT_CHANGE_RETENTION).isoformat()
        with self._database.transaction("IMMEDIATE") as connection:
            (through,) = connection.execute(
                "SELECT max(seq) FROM changes WHERE kind != 'release' AND created < ?", (cutoff,)
            ).fetchone()
            if through is None:
                return 0
            pruned = connection.execute(
                "DELETE FROM changes WHERE kind != 'release' AND seq <= ?", (through,)
            ).rowcount
            connection.execute(
                "UPDATE change_horizon SET pruned_through = max(pruned_through, ?)", (through,)
            )
        return int(pruned)


def _change(row: tuple[Any, ...]) -> Change:
    seq, kind, created, owner, patient_id, release_key, release_version, actor, subject = row[:9]
    if kind == "release":
        return ReleaseChange(
            seq, release_key, release_version, datetime.fromisoformat(created), actor
        )
    if kind == "erasure":
        return ErasureChange(seq, owner, subject)
    stored = row[9:]
    record = record_from_row(stored) if stored[0] is not None else None
    return PatientChange(seq, owner, patient_id, record)
