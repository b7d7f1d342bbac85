"""The history of every match in and out: who asked, about which patient, what came back.

Kept in the node's SQLite file whichever store holds the patients. Three
directions: ``inbound`` (a peer queried us; results are our patients),
``outbound`` (we sent one of our patients to a peer; results are theirs) and
``local`` (a submitter matched a patient against this node).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mme_node.stores.database import open_database

Direction = Literal["inbound", "outbound", "local"]


@dataclass(frozen=True, slots=True)
class RecordedResult:
    """One result of a recorded match. ``owner`` is None for another node's patient."""

    score: float
    patient_id: str
    owner: str | None = None
    patient_json: str | None = None
    new: bool = False


@dataclass(frozen=True, slots=True)
class RecordedMatch:
    direction: Direction
    peer: str
    created: datetime.datetime
    query_patient_id: str
    test: bool
    results: tuple[RecordedResult, ...] = ()
    owner: str | None = None
    patient_id: str | None = None
    status: int | None = None
    error_kind: str | None = None
    error_message: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryCounts:
    requests_received: int
    matches_sent: int
    unique_genes_matched: int = 0


class MatchHistory:
    """Append-only log of matches, erased per patient when the patient is deleted."""

    def __init__(self, database_path: Path) -> None:
        self._path = database_path
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = open_database(self._path)
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    async def record(self, match: RecordedMatch) -> RecordedMatch:
        """Store a match; returns it with ``id`` set and each result's ``new`` flag.

        A result is new when the same patient (same peer, same id) was not in
        the results of an earlier match of the same query patient.
        """
        return await asyncio.to_thread(self._record, match)

    def _record(self, match: RecordedMatch) -> RecordedMatch:
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                seen = self._seen_before(db, match)
                cursor = db.execute(
                    "INSERT INTO match_requests (direction, peer, created, owner, patient_id,"
                    " query_patient_id, test, status, error_kind, error_message)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        match.direction,
                        match.peer,
                        match.created.isoformat(),
                        match.owner,
                        match.patient_id,
                        match.query_patient_id,
                        int(match.test),
                        match.status,
                        match.error_kind,
                        match.error_message,
                    ),
                )
                request_pk = cursor.lastrowid
                results = []
                for rank, result in enumerate(match.results):
                    db.execute(
                        "INSERT INTO match_results (request_pk, rank, score, owner, patient_id,"
                        " patient_json) VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            request_pk,
                            rank,
                            result.score,
                            result.owner,
                            result.patient_id,
                            result.patient_json,
                        ),
                    )
                    new = (result.owner, result.patient_id) not in seen
                    results.append(_with_new(result, new))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return _replace(match, id=request_pk, results=tuple(results))

    def _seen_before(
        self, db: sqlite3.Connection, match: RecordedMatch, before: int | None = None
    ) -> set[tuple[str | None, str]]:
        """Results that earlier matches of the same query with the same peer returned.

        "The same query" is the peer's patient for an inbound match, and our
        patient (owner and id) for an outbound or local one; directions never
        mix, so a peer named like the local pseudo-peer has its own history.
        ``before`` limits the search to matches recorded before that one.
        """
        conditions = ["q.direction = ?", "q.peer = ?"]
        parameters: list[object] = [match.direction, match.peer]
        if match.direction == "inbound":
            conditions.append("q.query_patient_id = ?")
            parameters.append(match.query_patient_id)
        else:
            conditions += ["q.owner = ?", "q.patient_id = ?"]
            parameters += [match.owner, match.patient_id]
        if before is not None:
            conditions.append("q.pk < ?")
            parameters.append(before)
        rows = db.execute(
            "SELECT r.owner, r.patient_id FROM match_requests q"
            " JOIN match_results r ON r.request_pk = q.pk WHERE " + " AND ".join(conditions),
            parameters,
        )
        return {(owner, patient_id) for owner, patient_id in rows}

    async def for_patient(self, owner: str, patient_id: str) -> list[RecordedMatch]:
        """Every match about this patient, oldest first: as the query, or as a result."""
        return await asyncio.to_thread(self._for_patient, owner, patient_id)

    def _for_patient(self, owner: str, patient_id: str) -> list[RecordedMatch]:
        with self._lock:
            db = self._db()
            # One read transaction: a consistent snapshot while another process writes.
            db.execute("BEGIN")
            try:
                requests = db.execute(
                    "SELECT pk, direction, peer, created, owner, patient_id, query_patient_id,"
                    " test, status, error_kind, error_message FROM match_requests"
                    " WHERE (owner = ? AND patient_id = ?) OR pk IN"
                    " (SELECT request_pk FROM match_results WHERE owner = ? AND patient_id = ?)"
                    " ORDER BY pk",
                    (owner, patient_id, owner, patient_id),
                ).fetchall()
                return [self._stored_match(db, row) for row in requests]
            finally:
                db.execute("COMMIT")

    def _stored_match(self, db: sqlite3.Connection, row: tuple[Any, ...]) -> RecordedMatch:
        """The match of one ``match_requests`` row, its results marked new as ``record`` did."""
        match = RecordedMatch(
            id=row[0],
            direction=row[1],
            peer=row[2],
            created=datetime.datetime.fromisoformat(row[3]),
            owner=row[4],
            patient_id=row[5],
            query_patient_id=row[6],
            test=bool(row[7]),
            status=row[8],
            error_kind=row[9],
            error_message=row[10],
        )
        seen = self._seen_before(db, match, before=match.id)
        rows = db.execute(
            "SELECT score, patient_id, owner, patient_json FROM match_results"
            " WHERE request_pk = ? ORDER BY rank",
            (match.id,),
        )
        results = tuple(
            RecordedResult(score, result_id, owner, patient_json, (owner, result_id) not in seen)
            for score, result_id, owner, patient_json in rows
        )
        return _replace(match, results=results)

    async def forget_patient(self, owner: str, patient_id: str) -> None:
        """Erase the patient's own matches and remove it from other matches' results."""
        await asyncio.to_thread(self._forget_patient, owner, patient_id)

    def _forget_patient(self, owner: str, patient_id: str) -> None:
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "DELETE FROM match_requests WHERE owner = ? AND patient_id = ?",
                    (owner, patient_id),
                )
                db.execute(
                    "DELETE FROM match_results WHERE owner = ? AND patient_id = ?",
                    (owner, patient_id),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    async def counts(self) -> HistoryCounts:
        """Aggregates for ``/metrics``: real (non-test) inbound requests and results sent."""
        return await asyncio.to_thread(self._counts)

    def _counts(self) -> HistoryCounts:
        with self._lock:
            db = self._db()
            (received,) = db.execute(
                "SELECT count(*) FROM match_requests WHERE direction = 'inbound' AND test = 0"
            ).fetchone()
            (sent,) = db.execute(
                "SELECT count(*) FROM match_results r JOIN match_requests q ON q.pk = r.request_pk"
                " WHERE q.direction = 'inbound' AND q.test = 0"
            ).fetchone()
        return HistoryCounts(requests_received=int(received), matches_sent=int(sent))


def _with_new(result: RecordedResult, new: bool) -> RecordedResult:
    return RecordedResult(result.score, result.patient_id, result.owner, result.patient_json, new)


def _replace(match: RecordedMatch, **changes: object) -> RecordedMatch:
    return dataclasses.replace(match, **changes)  # type: ignore[arg-type]
