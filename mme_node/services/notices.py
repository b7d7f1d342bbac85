"""Owner notices: what the node has to tell a submitter, besides new matches.

A notice is addressed to an owner (a submitting client), usually about one of
its patients: for example that some of the patient's terms could not be
carried over to a new HPO release. Notices are kept in the node's SQLite file
(whichever store holds the patients), listed newest first, and marked as seen
by their owner; the clinicians' inbox (issue 11) shows them next to new
matches, and ``GET /api/notices`` gives them to a submitter's own software.
Deleting a patient erases its notices.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mme_node.stores.database import SerialConnection

TERMS_NOT_CARRIED_OVER = "hpo-terms-not-carried-over"
"""Kind of the notice about a patient's terms that a new HPO release cannot place."""

_COLUMNS = "pk, owner, patient_id, kind, created, message, details, seen_at"


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to ``owner``; ``details`` is plain JSON data for software and the inbox."""

    owner: str
    kind: str
    message: str
    patient_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    created: datetime.datetime | None = None
    seen_at: datetime.datetime | None = None
    id: int | None = None


class OwnerNotices:
    """The notices of every owner, in the node's database file."""

    def __init__(self, database_path: Path) -> None:
        self._database = SerialConnection(database_path, "notices")

    def close(self) -> None:
        self._database.close()

    async def post(self, notices: Sequence[Notice]) -> list[Notice]:
        """Store ``notices`` (one transaction); returns them with ``id`` and ``created``."""
        return await self._database.run(self._post, list(notices))

    async def for_owner(
        self, owner: str, *, unseen_only: bool = False, limit: int = 100
    ) -> list[Notice]:
        """The owner's notices, newest first."""
        return await self._database.run(self._for_owner, owner, unseen_only, limit)

    async def unseen_count(self, owner: str) -> int:
        return await self._database.run(self._unseen_count, owner)

    async def mark_seen(self, owner: str, ids: Iterable[int]) -> int:
        """Mark the owner's notices ``ids`` as seen (others' are left alone); how many changed."""
        return await self._database.run(self._mark_seen, owner, list(ids))

    async def mark_all_seen(self, owner: str) -> int:
        """Mark every unseen notice of the owner as seen; how many changed."""
        return await self._database.run(self._mark_all_seen, owner)

    async def forget_patient(self, owner: str, patient_id: str) -> None:
        """Erase every notice about the patient (it was deleted)."""
        await self._database.run(self._forget_patient, owner, patient_id)

    def _post(self, notices: list[Notice]) -> list[Notice]:
        now = datetime.datetime.now(datetime.UTC)
        posted = []
        with self._database.transaction("IMMEDIATE") as connection:
            for notice in notices:
                (pk,) = connection.execute(
                    "INSERT INTO notices (owner, patient_id, kind, created, message, details)"
                    " VALUES (?, ?, ?, ?, ?, ?) RETURNING pk",
                    (
                        notice.owner,
                        notice.patient_id,
                        notice.kind,
                        now.isoformat(),
                        notice.message,
                        json.dumps(notice.details, ensure_ascii=False),
                    ),
                ).fetchone()
                posted.append(dataclasses.replace(notice, id=pk, created=now))
        return posted

    def _for_owner(self, owner: str, unseen_only: bool, limit: int) -> list[Notice]:
        unseen = " AND seen_at IS NULL" if unseen_only else ""
        with self._database.transaction() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM notices WHERE owner = ?{unseen} ORDER BY pk DESC LIMIT ?",
                (owner, limit),
            ).fetchall()
        return [_notice(row) for row in rows]

    def _unseen_count(self, owner: str) -> int:
        with self._database.transaction() as connection:
            (count,) = connection.execute(
                "SELECT count(*) FROM notices WHERE owner = ? AND seen_at IS NULL", (owner,)
            ).fetchone()
        return int(count)

    def _mark_seen(self, owner: str, ids: list[int]) -> int:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        with self._database.transaction("IMMEDIATE") as connection:
            changed = sum(
                connection.execute(
                    "UPDATE notices SET seen_at = ? WHERE pk = ? AND owner = ? AND seen_at IS NULL",
                    (now, pk, owner),
                ).rowcount
                for pk in ids
            )
        return changed

    def _mark_all_seen(self, owner: str) -> int:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        with self._database.transaction("IMMEDIATE") as connection:
            changed: int = connection.execute(
                "UPDATE notices SET seen_at = ? WHERE owner = ? AND seen_at IS NULL", (now, owner)
            ).rowcount
        return changed

    def _forget_patient(self, owner: str, patient_id: str) -> None:
        with self._database.transaction("IMMEDIATE") as connection:
            connection.execute(
                "DELETE FROM notices WHERE owner = ? AND patient_id = ?", (owner, patient_id)
            )


def _notice(row: tuple[Any, ...]) -> Notice:
    pk, owner, patient_id, kind, created, message, details, seen_at = row
    return Notice(
        id=pk,
        owner=owner,
        patient_id=patient_id,
        kind=kind,
        created=datetime.datetime.fromisoformat(created),
        message=message,
        details=json.loads(details),
        seen_at=datetime.datetime.fromisoformat(seen_at) if seen_at else None,
    )
