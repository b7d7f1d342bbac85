"""The history of every match in and out: who asked, about which patient, what came back.

Kept in the node's SQLite file whichever store holds the patients. Three
directions: ``inbound`` (a peer queried us; results are our patients),
``outbound`` (we sent one of our patients to a peer; results are theirs) and
``local`` (a submitter matched a patient against this node).

An owner's *unseen* matches are its inbox: the new results, in and out,
that concern one of its patients and that it has not marked as seen. A
local match is not among them: the submitter who ran it saw its results.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mme_node.errors import ServiceUnavailable
from mme_node.model import Contact
from mme_node.security.audit import AuditEntry, AuditEvent, AuditLog
from mme_node.stores.codec import contact_from_document, contact_to_document
from mme_node.stores.database import MAX_ROWID, SerialConnection, transaction
from mme_node.stores.filing import Filing

Direction = Literal["inbound", "outbound", "local"]

HISTORY_PAGE_SIZE = 50
"""Matches per page of a patient's history, unless the caller asks for another number."""

RESULTS_FILING = Filing(
    name="match_results",
    top="SELECT top FROM match_ids",
    fill="INSERT INTO match_results_filed"
    " SELECT owner, patient_id, request_pk, rank FROM match_results"
    " WHERE request_pk > :after AND request_pk <= :through AND owner IS NOT NULL"
    " ORDER BY owner, patient_id, request_pk, rank",
    step=100,
)
"""Our patients' results by patient (``match_results_filed``), filed late
(:mod:`mme_node.stores.filing`) by match id: each is one random page a match
of 200 results no longer writes before its answer leaves."""


@dataclass(frozen=True, slots=True)
class RecordedResult:
    """One result of a recorded match. ``owner`` is None for another node's patient.

    For one of our patients shown to a peer (or to another submitter),
    ``shown_as`` is the pseudonym it was shown under and ``disclosure`` the
    level shown; both are None for another node's patient.
    """

    score: float
    patient_id: str
    owner: str | None = None
    patient_json: str | None = None
    new: bool = False
    shown_as: str | None = None
    disclosure: str | None = None

    def flagged(self, new: bool) -> RecordedResult:
        """This result with its ``new`` flag set, as :meth:`MatchHistory.record` returns it.

        Built field by field: ``dataclasses.replace`` cost twice as much, once per
        result of every match recorded (a test checks that every other field is kept).
        """
        return RecordedResult(
            self.score,
            self.patient_id,
            self.owner,
            self.patient_json,
            new,
            self.shown_as,
            self.disclosure,
        )


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
    query_contact: Contact | None = None
    """For an inbound match, the contact of the peer's query patient (who asked)."""
    shown_as: str | None = None
    disclosure: str | None = None
    """For an outbound match: the pseudonym and level our patient was sent with."""


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of a patient's match history (:meth:`MatchHistory.history_page`)."""

    matches: tuple[RecordedMatch, ...]
    """Newest first, as the patient's submitter may see them."""
    next_before: int | None
    """The ``before`` of the next, older page; None when no older match exists."""


@dataclass(frozen=True, slots=True)
class HistoryCounts:
    requests_received: int
    matches_sent: int
    unique_genes_matched: int = 0


class MatchHistory:
    """Append-only log of matches, erased per patient when the patient is deleted.

    Writes from concurrent requests are committed together (group commit): a
    thread that finds the database busy leaves its matches in a queue, and
    whichever thread holds the database next writes everything queued in one
    transaction. Each caller still gets its answer only once its own matches
    are on disk; one fsync serves many requests under load.

    A match that showed one of our patients to someone comes with its audit
    entries (``audit``), written in the same transaction as the match: with
    it or not at all.

    Database failures (a locked or unreadable file) are ``ServiceUnavailable``
    (503), as for the node's other services sharing the file.
    """

    def __init__(self, database_path: Path, audit: AuditLog | None = None) -> None:
        self._audit = audit
        self._database = SerialConnection(database_path, "match history")
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()

    def close(self) -> None:
        self._database.close()

    async def record(self, match: RecordedMatch, audit: Sequence[AuditEntry] = ()) -> RecordedMatch:
        """Store a match and its ``audit`` entries; returns it with ``id`` and ``new`` flags.

        A result is new when no earlier match in the same direction, with the
        same peer, about the same query patient returned the same patient
        (same id and same owner, None for another node's patient). Costs an
        index lookup per result, whatever the size of the history.
        """
        (recorded,) = await self.record_many([match], audit)
        return recorded

    async def record_many(
        self, matches: Sequence[RecordedMatch], audit: Sequence[AuditEntry] = ()
    ) -> list[RecordedMatch]:
        """:meth:`record` for several matches, in one transaction: all are stored or none."""
        if audit and self._audit is None:
            raise ValueError("audit entries given to a history without an audit log")
        return await asyncio.to_thread(self._record_grouped, tuple(matches), tuple(audit))

    def _record_grouped(
        self, matches: tuple[RecordedMatch, ...], audit: tuple[AuditEntry, ...]
    ) -> list[RecordedMatch]:
        pending = _Pending(matches, audit)
        with self._queue_lock:
            self._queue.append(pending)
        try:
            with self._database.held() as db:
                if not pending.done:
                    with self._queue_lock:
                        batch, self._queue = self._queue, []
                    self._write(db, batch)
        except ServiceUnavailable:
            with self._queue_lock:  # the database could not be opened: nobody writes it later
                self._queue = [waiting for waiting in self._queue if waiting is not pending]
            if not pending.done:
                raise
        if pending.error is not None:
            raise pending.error
        return pending.recorded

    def _write(self, db: sqlite3.Connection, batch: list[_Pending]) -> None:
        """Everything in ``batch`` in one transaction; a failing entry is undone alone."""
        try:
            with transaction(db, "IMMEDIATE"):
                for pending in batch:
                    db.execute("SAVEPOINT entry")
                    try:
                        pending.recorded = [_insert(db, match) for match in pending.matches]
                        if self._audit is not None:
                            self._audit.append_in(db, pending.audit)
                    except Exception as error:
                        db.execute("ROLLBACK TO entry")
                        pending.recorded, pending.error = [], error
                    db.execute("RELEASE entry")
        except BaseException as error:
            # The whole batch failed (the database, not one entry): 503 for every caller.
            failure = (
                self._database.unavailable(error) if isinstance(error, sqlite3.Error) else error
            )
            for pending in batch:
                pending.recorded, pending.error = [], pending.error or failure
            if failure is error:
                raise
            raise failure from error
        finally:
            for pending in batch:
                pending.done = True

    async def history_page(
        self, owner: str, patient_id: str, before: int | None, limit: int
    ) -> HistoryPage:
        """The ``limit`` (at least 1) newest matches about this patient with ids below ``before``.

        A match is about the patient when the patient was its query or among
        its results. Each is shown as the submitter ``owner`` may see it
        (:func:`_seen_by`); other submitters' local matches that returned
        the patient are left out by the query itself, so a page holds
        ``limit`` matches whenever that many exist below ``before`` (None:
        start at the newest). Each result carries the ``new`` flag
        :meth:`record` gave it, kept as it was even if an earlier result was
        erased since.

        The cursor is a match id, ``match_requests.pk``: ids only grow
        (``match_ids``, schema 16), so a cursor kept across an erasure or a
        purge still leads only to matches older than it.

        Cost: the patient's entries as the query (an index) and as a result
        (filed late, :data:`RESULTS_FILING`) are read newest first and merged,
        stopping after this page (and one more match, to know whether another
        page exists); each result entry read costs a primary-key lookup of its
        match, to skip other submitters' local matches. However long the
        history, a page reads its own matches (of a peer's query, only
        ``owner``'s results) plus those it skips, and the results not filed
        yet (about a second's worth on a serving node).
        """
        return await asyncio.to_thread(self._history_page, owner, patient_id, before, limit)

    def _history_page(
        self, owner: str, patient_id: str, before: int | None, limit: int
    ) -> HistoryPage:
        # ids <= below: ids < before, and every id when there is no cursor.
        below = MAX_ROWID if before is None else before - 1
        parameters = {"owner": owner, "patient": patient_id, "below": below, "limit": limit + 1}
        # One read transaction: a consistent snapshot while another process writes.
        with self._database.transaction() as db:
            ids = [pk for (pk,) in db.execute(_PAGE, parameters)]
            matches = tuple(_seen_by(db, owner, pk) for pk in ids[:limit])
        return HistoryPage(matches, ids[limit - 1] if len(ids) > limit else None)

    async def forget_patient(
        self, owner: str, patient_id: str, audit: Sequence[AuditEntry] = ()
    ) -> int:
        """Erase the patient's own matches (with the results peers sent about it) and
        remove it from other matches' results; ``audit`` entries are written in the
        same transaction. Returns how many rows mentioned the patient.
        """
        if audit and self._audit is None:
            raise ValueError("audit entries given to a history without an audit log")
        return await asyncio.to_thread(self._forget_patient, owner, patient_id, tuple(audit))

    def _forget_patient(
        self, owner: str, patient_id: str, audit: tuple[AuditEntry, ...] = ()
    ) -> int:
        patient = {"owner": owner, "patient": patient_id}
        with self._database.transaction("IMMEDIATE") as db:
            # Rows are counted statement by statement, not by total_changes: the
            # filed entries the deletions take with them (a trigger) are not rows
            # of the history. The patient's own matches take their results with
            # them (ON DELETE CASCADE): those are counted first.
            (cascading,) = db.execute(_RESULTS_OF_PATIENTS_MATCHES, patient).fetchone()
            matches = db.execute(
                "DELETE FROM match_requests WHERE owner = :owner AND patient_id = :patient",
                patient,
            ).rowcount
            results = db.execute(
                f"DELETE FROM match_results WHERE rowid IN ({_patient_results('r.rowid')})",
                patient,
            ).rowcount
            threads = db.execute(
                "DELETE FROM match_threads"
                " WHERE query_owner = :owner AND query_patient_id = :patient",
                patient,
            ).rowcount
            erased = cascading + matches + results + threads
            if self._audit is not None:
                self._audit.append_in(db, audit)
        return int(erased)

    async def mentions(self, owner: str, patient_id: str) -> bool:
        """Whether any match mentions this patient (as the query, or as a result)."""
        return await asyncio.to_thread(self._mentions, owner, patient_id)

    def _mentions(self, owner: str, patient_id: str) -> bool:
        with self._database.held() as db:
            (found,) = db.execute(_MENTIONS, {"owner": owner, "patient": patient_id}).fetchone()
        return bool(found)

    async def purge(self, before: datetime.datetime, actor: str) -> int:
        """Erase every match recorded before ``before`` (retention); returns how many.

        Their results go with them, and the threads no result refers to any
        more: a result a purged match had returned is new again next time.
        With an audit log, a purge that erased something is an entry there.
        """
        return await asyncio.to_thread(self._purge, before, actor)

    def _purge(self, before: datetime.datetime, actor: str) -> int:
        cutoff = before.astimezone(datetime.UTC).isoformat()
        with self._database.transaction("IMMEDIATE") as db:
            purged = db.execute("DELETE FROM match_requests WHERE created < ?", (cutoff,)).rowcount
            db.execute(
                "DELETE FROM match_threads WHERE pk NOT IN"
                " (SELECT thread_pk FROM match_results WHERE thread_pk IS NOT NULL)"
            )
            if self._audit is not None and purged:
                entry = AuditEntry(
                    AuditEvent.RETENTION,
                    actor=actor,
                    details={"matches_erased": purged, "recorded_before": cutoff},
                )
                self._audit.append_in(db, [entry])
        return int(purged)

    async def unseen(self, owner: str, limit: int = 200) -> list[RecordedMatch]:
        """The owner's inbox: matches with new results it has not seen, newest first.

        Each match carries only those results: for an inbound match the
        owner's patients that a peer's query found, for an outbound one what
        a peer returned for the owner's patient. At most ``limit`` matches.
        """
        return await asyncio.to_thread(self._unseen, owner, limit)

    def _unseen(self, owner: str, limit: int) -> list[RecordedMatch]:
        with self._database.transaction() as db:
            rows = db.execute(_UNSEEN_NEW_RESULTS, {"owner": owner}).fetchall()
            matches: dict[int, list[RecordedResult]] = {}
            for request_pk, score, patient_id, result_owner, patient_json in rows:
                if request_pk not in matches and len(matches) == limit:
                    break
                matches.setdefault(request_pk, []).append(
                    RecordedResult(score, patient_id, result_owner, patient_json, new=True)
                )
            found = []
            for request_pk, results in matches.items():
                row = db.execute(_MATCH_BY_ID, (request_pk,)).fetchone()
                found.append(_replace(_match_of(row), results=tuple(results)))
            return found

    async def unseen_counts(self, owner: str) -> dict[str, int]:
        """How many unseen new results concern each of the owner's patients (by patient id)."""
        return await asyncio.to_thread(self._unseen_counts, owner)

    def _unseen_counts(self, owner: str) -> dict[str, int]:
        with self._database.held() as db:
            rows = db.execute(_UNSEEN_COUNTS, {"owner": owner}).fetchall()
        return {patient_id: int(count) for patient_id, count in rows}

    async def mark_seen(self, owner: str, match_id: int | None = None) -> int:
        """Mark the results of one match (every match when None) that concern ``owner`` as seen.

        Returns how many results were marked: those in the owner's inbox
        (:meth:`unseen`), the only ones whose being seen shows anywhere.
        Results of other owners are never touched, so marking an inbound
        match that also found another owner's patient leaves it in that
        owner's inbox.
        """
        return await asyncio.to_thread(self._mark_seen, owner, match_id)

    def _mark_seen(self, owner: str, match_id: int | None) -> int:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        with self._database.transaction("IMMEDIATE") as db:
            cursor = db.execute(_MARK_SEEN, {"owner": owner, "match": match_id, "now": now})
        return cursor.rowcount

    async def counts(self) -> HistoryCounts:
        """Aggregates for ``/metrics``: real (non-test) inbound requests and results sent."""
        return await asyncio.to_thread(self._counts)

    def _counts(self) -> HistoryCounts:
        with self._database.held() as db:
            (received,) = db.execute(
                "SELECT count(*) FROM match_requests WHERE direction = 'inbound' AND test = 0"
            ).fetchone()
            (sent,) = db.execute(
                "SELECT count(*) FROM match_results r JOIN match_requests q ON q.pk = r.request_pk"
                " WHERE q.direction = 'inbound' AND q.test = 0"
            ).fetchone()
        return HistoryCounts(requests_received=int(received), matches_sent=int(sent))


@dataclass(slots=True)
class _Pending:
    """Matches waiting for a group commit, and what became of them."""

    matches: tuple[RecordedMatch, ...]
    audit: tuple[AuditEntry, ...] = ()
    recorded: list[RecordedMatch] = dataclasses.field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


def _insert(db: sqlite3.Connection, match: RecordedMatch) -> RecordedMatch:
    """Write one match inside the caller's transaction; its results flagged new or not."""
    cursor = db.execute(
        "INSERT INTO match_requests (pk, direction, peer, created, owner, patient_id,"
        " query_patient_id, test, status, error_kind, error_message, query_contact, shown_as,"
        " disclosure) VALUES ((SELECT top + 1 FROM match_ids),"
        " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            None
            if match.query_contact is None
            else json.dumps(contact_to_document(match.query_contact)),
            match.shown_as,
            match.disclosure,
        ),
    )
    request_pk = cursor.lastrowid
    if not match.results:
        return _replace(match, id=request_pk)
    thread, begun = _thread(db, match)
    # Flags first, rows after: a patient listed twice in one answer is new both times.
    # A thread begun by this match has no earlier result to look up.
    seen = set() if begun else _returned_before(db, thread, match.results)
    results = tuple(result.flagged(place not in seen) for place, result in enumerate(match.results))
    db.executemany(
        "INSERT INTO match_results (request_pk, rank, score, owner, patient_id, patient_json,"
        " thread_pk, new, shown_as, disclosure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                request_pk,
                rank,
                r.score,
                r.owner,
                r.patient_id,
                r.patient_json,
                thread,
                r.new,
                r.shown_as,
                r.disclosure,
            )
            for rank, r in enumerate(results)
        ),
    )
    return _replace(match, id=request_pk, results=results)


def _thread(db: sqlite3.Connection, match: RecordedMatch) -> tuple[int, bool]:
    """The key of the match's thread (its direction, peer and query patient), and whether
    this match begins it (the thread was created now).

    The query patient is the peer's (by id alone, ``query_owner`` '') for an
    inbound match, ours (owner and id) for an outbound or local one.
    """
    if match.direction == "inbound":
        query = ("", match.query_patient_id)
    else:
        query = (match.owner or "", match.patient_id or match.query_patient_id)
    key = (*query, match.direction, match.peer)
    found = db.execute(
        "SELECT pk FROM match_threads"
        " WHERE query_owner = ? AND query_patient_id = ? AND direction = ? AND peer = ?",
        key,
    ).fetchone()
    if found is not None:
        return int(found[0]), False
    cursor = db.execute(
        "INSERT INTO match_threads (query_owner, query_patient_id, direction, peer)"
        " VALUES (?, ?, ?, ?)",
        key,
    )
    return int(cursor.lastrowid or 0), True


_RETURNED_AS_THIS = (
    "SELECT 1 FROM match_results WHERE thread_pk = ? AND patient_id = ? AND owner IS ?"
)
"""One result's lookup, its id and owner bound whole (:func:`_returned_before`)."""

_RETURNED_BEFORE = """
SELECT result.key FROM json_each(:results) AS result
WHERE EXISTS (SELECT 1 FROM match_results
    WHERE thread_pk = :thread
    AND patient_id = result.value ->> 0 AND owner IS result.value ->> 1)
"""


def _returned_before(
    db: sqlite3.Connection, thread: int, results: Sequence[RecordedResult]
) -> set[int]:
    """The places in ``results`` of patients an earlier result of ``thread`` is: the same
    id and the same owner (None for another node's patient, matched only by None).

    One statement for the whole answer, an index lookup per result inside
    SQLite (``match_results_by_thread``), instead of a statement per result
    asked from Python: a third less for an answer of 200 results to a peer
    asking again about its patient (``bench/novelty_bench.py``).
    """
    if any("\x00" in f"{result.patient_id}{result.owner}" for result in results):
        # SQLite's ->> cuts a JSON string at an escaped NUL: such ids are bound whole.
        return {
            place
            for place, result in enumerate(results)
            if db.execute(_RETURNED_AS_THIS, (thread, result.patient_id, result.owner)).fetchone()
        }
    keys = json.dumps([[result.patient_id, result.owner] for result in results])
    found = db.execute(_RETURNED_BEFORE, {"thread": thread, "results": keys})
    return {place for (place,) in found}


def _patient_results(columns: str) -> str:
    """``columns`` of the results that are ``:owner``'s patient ``:patient`` (alias ``r``):
    the filed ones through ``match_results_filed``, the tail above the mark by match id."""
    return (
        f"SELECT {columns} FROM match_results_filed f JOIN match_results r"
        " ON r.request_pk = f.request_pk AND r.rank = f.rank"
        " WHERE f.owner = :owner AND f.patient_id = :patient"
        f" UNION ALL SELECT {columns} FROM match_results r"
        f" WHERE r.request_pk > {RESULTS_FILING.mark}"
        " AND r.owner = :owner AND r.patient_id = :patient"
    )


_MENTIONS = f"""
SELECT EXISTS (SELECT 1 FROM match_requests WHERE owner = :owner AND patient_id = :patient)
    OR EXISTS ({_patient_results("1")})
"""

_RESULTS_OF_PATIENTS_MATCHES = """
SELECT count(*) FROM match_results WHERE request_pk IN
    (SELECT pk FROM match_requests WHERE owner = :owner AND patient_id = :patient)
"""
"""The results an erasure deletes with the patient's own matches (ON DELETE CASCADE)."""


def _concerning_owner(columns: str, condition: str) -> str:
    """``columns`` of the results about one of ``:owner``'s patients that meet ``condition``.

    An inbound result is about the owner of our patient it returned, an
    outbound one about the owner of the query patient: one arm per
    direction, each read through an index of that owner's rows (for unseen
    new results, the partial indexes ``match_results_unseen_by_owner`` and
    ``..._by_request``). One condition OR-ing both directions read every
    result of the history for each inbox count, which every page of the web
    app shows (150 ms at a million results, holding the history's connection).
    """
    return (
        f"SELECT {columns} FROM match_results r JOIN match_requests q ON q.pk = r.request_pk"
        f" WHERE r.owner = :owner AND q.direction = 'inbound' AND {condition}"
        " UNION ALL"
        f" SELECT {columns} FROM match_requests q JOIN match_results r ON r.request_pk = q.pk"
        f" WHERE q.owner = :owner AND q.direction = 'outbound' AND {condition}"
    )


_UNSEEN_NEW = "r.seen_at IS NULL AND r.new"

_UNSEEN_NEW_RESULTS = (
    "SELECT request_pk, score, patient_id, owner, patient_json FROM ("
    + _concerning_owner(
        "r.request_pk, r.rank, r.score, r.patient_id, r.owner, r.patient_json", _UNSEEN_NEW
    )
    + ") ORDER BY request_pk DESC, rank"
)

_UNSEEN_COUNTS = (
    "SELECT patient, count(*) FROM ("
    + _concerning_owner(
        "CASE q.direction WHEN 'inbound' THEN r.patient_id ELSE q.patient_id END AS patient",
        _UNSEEN_NEW,
    )
    + ") GROUP BY patient"
)

_MARK_SEEN = (
    "UPDATE match_results SET seen_at = :now WHERE rowid IN ("
    + _concerning_owner("r.rowid", f"{_UNSEEN_NEW} AND (:match IS NULL OR q.pk = :match)")
    + ")"
)
"""Only unseen *new* results are marked: no other result is ever in an inbox, and so the
update reads the partial indexes of the inbox, not every result of the owner's patients."""

_MATCH_COLUMNS = (
    "SELECT pk, direction, peer, created, owner, patient_id, query_patient_id,"
    " test, status, error_kind, error_message, query_contact, shown_as, disclosure"
    " FROM match_requests"
)

_MATCH_BY_ID = f"{_MATCH_COLUMNS} WHERE pk = ?"

_NOT_OTHERS_LOCAL = "NOT (q.direction = 'local' AND q.owner IS NOT :owner)"
"""Leaves out another submitter's local match (the patient is a result of it)."""

# A compound SELECT ordered by its only column: SQLite merges the three arms,
# each read newest first (the patient's matches from match_requests_by_patient,
# its filed results from match_results_filed, the tail above the mark from the
# results' primary key), and stops at the LIMIT. UNION, not UNION ALL: a
# patient can be the query and a result of one match, or be listed twice in
# one answer, and each match appears once. A subquery ordered from outside
# would read the patient's whole history into a temporary b-tree.
_PAGE = f"""
SELECT pk FROM match_requests
WHERE owner = :owner AND patient_id = :patient AND pk <= :below
UNION
SELECT f.request_pk FROM match_results_filed f JOIN match_requests q ON q.pk = f.request_pk
WHERE f.owner = :owner AND f.patient_id = :patient AND f.request_pk <= :below
    AND {_NOT_OTHERS_LOCAL}
UNION
SELECT r.request_pk FROM match_results r JOIN match_requests q ON q.pk = r.request_pk
WHERE r.request_pk > {RESULTS_FILING.mark} AND r.request_pk <= :below
    AND r.owner = :owner AND r.patient_id = :patient AND {_NOT_OTHERS_LOCAL}
ORDER BY pk DESC LIMIT :limit
"""


def _stored_results(
    db: sqlite3.Connection, request_pk: int, owner: str | None = None
) -> tuple[RecordedResult, ...]:
    """The match's results in rank order; only ``owner``'s patients unless it is None."""
    rows = db.execute(
        "SELECT score, patient_id, owner, patient_json, new, shown_as, disclosure"
        " FROM match_results WHERE request_pk = :match AND (:owner IS NULL OR owner = :owner)"
        " ORDER BY rank",
        {"match": request_pk, "owner": owner},
    )
    return tuple(
        RecordedResult(score, patient_id, owner, patient_json, bool(new), shown_as, disclosure)
        for score, patient_id, owner, patient_json, new, shown_as, disclosure in rows
    )


def _seen_by(db: sqlite3.Connection, owner: str, pk: int) -> RecordedMatch:
    """The match with this id as the submitter ``owner`` may see it in its patient's history.

    Its own local or outbound match shows its results as they were shown to
    it: another owner's patient under its pseudonym (``shown_as``). An
    inbound match shows only ``owner``'s patients among the results (the
    others are filtered out in SQL, so that of a peer's query that found 200
    only ``owner``'s rows become Python objects). Another
    owner's local match is not shown at all (:data:`_PAGE` leaves it out):
    its query and the rest of its results are not ``owner``'s to see (the
    audit log records the disclosure).
    """
    match = _match_of(db.execute(_MATCH_BY_ID, (pk,)).fetchone())
    if match.owner == owner:
        results = tuple(_shown_to(owner, r) for r in _stored_results(db, pk))
    else:
        results = _stored_results(db, pk, owner)
    return _replace(match, results=results)


def _shown_to(owner: str, result: RecordedResult) -> RecordedResult:
    """A result of ``owner``'s own match: another owner's patient by the pseudonym shown."""
    if result.owner is None or result.owner == owner:
        return result
    return dataclasses.replace(result, patient_id=result.shown_as or "")


def _match_of(row: tuple[Any, ...]) -> RecordedMatch:
    """The match of one ``match_requests`` row (:data:`_MATCH_COLUMNS`), without results."""
    return RecordedMatch(
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
        query_contact=None if row[11] is None else contact_from_document(json.loads(row[11])),
        shown_as=row[12],
        disclosure=row[13],
    )


def _replace(match: RecordedMatch, **changes: object) -> RecordedMatch:
    return dataclasses.replace(match, **changes)  # type: ignore[arg-type]
