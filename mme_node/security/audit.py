"""The audit log: an append-only, hash-chained record of disclosures and security events.

Every result shown to a peer or to another submitter, every request we send
about one of our patients, every failed authentication, erasure, token and
peer change is one entry. Entries hold no direct identifier: a patient is
named by its *subject* (a keyed digest of owner and id, see
:mod:`mme_node.security.pseudonyms`), so the log outlives erasure and can
still answer "who was shown this patient?" for someone who knows its id.

Each entry is stored as canonical JSON with its sequence number, and with a
chain hash: the keyed HMAC of the previous entry's hash and this entry's
text. Changing an entry, removing one, or reordering them breaks the chain at
that entry, and without the node's key nobody can forge a new chain; the
last sequence number and hash are also kept in ``audit_head``, so removing
the newest entries shows too. Triggers refuse UPDATE and DELETE on the log.

Disclosures are appended in the same transaction as the match history they
belong to (:meth:`AuditLog.append_in`): no disclosure is answered without its
entry. The log lives in the node's SQLite file whichever store holds patients.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _ascii
from pathlib import Path
from typing import Any

from mme_node.peers import Peer
from mme_node.security.keys import NodeKey
from mme_node.stores.database import MAX_ROWID, SerialConnection
from mme_node.stores.filing import Filing

GENESIS = "0" * 64
"""The "previous hash" of the first entry."""

SUBJECTS_FILING = Filing(
    name="audit_log",
    top="SELECT seq FROM audit_head",
    fill="INSERT INTO audit_subjects"
    " SELECT json_extract(entry, '$.subject'), seq FROM audit_log"
    " WHERE seq > :after AND seq <= :through AND json_extract(entry, '$.subject') IS NOT NULL"
    " ORDER BY 1, 2",
    step=20_000,
)
"""Entries by subject (``audit_subjects``), filed late (:mod:`mme_node.stores.filing`)
by sequence number: a disclosure of 200 results no longer writes 200 random index
pages before its answer leaves."""

_OF_SUBJECT = (
    "seq IN (SELECT seq FROM audit_subjects WHERE subject = :subject AND seq > :after"
    " UNION ALL SELECT seq FROM audit_log"
    f" WHERE seq > max({SUBJECTS_FILING.mark}, :after)"
    " AND json_extract(entry, '$.subject') = :subject)"
)
"""SQL: the entry is about ``:subject`` and after ``:after``, filed or in the tail above the
mark. Both arms start after ``:after``, so that a page further on reads no earlier entry."""

_ENTRIES_AFTER = (
    "SELECT seq, entry, hash FROM audit_log WHERE seq > :after{where} ORDER BY seq LIMIT :limit"
)
"""A page of entries after ``:after``, oldest first, where the :func:`_filters` hold."""

_PAGE = 1000

log = logging.getLogger(__name__)


class AuditEvent(StrEnum):
    DISCLOSURE = "disclosure"
    """One of our patients shown in a match result (to a peer, or another submitter)."""
    OUTBOUND_REQUEST = "outbound-request"
    """One of our patients sent to a peer in our own match request."""
    AUTHENTICATION_FAILED = "authentication-failed"
    ERASURE = "erasure"
    TOKEN_CREATED = "token-created"
    TOKEN_REVOKED = "token-revoked"
    PEER_ADDED = "peer-added"
    PEER_CHANGED = "peer-changed"
    PEER_REMOVED = "peer-removed"
    RETENTION = "retention"
    """Match history older than the retention period erased."""


EXPOSURES = (AuditEvent.DISCLOSURE, AuditEvent.OUTBOUND_REQUEST)
"""The events that show a patient to someone."""

_EXPOSURES = (
    "SELECT json_extract(entry, '$.recipient') AS recipient,"
    " min(json_extract(entry, '$.time')), max(json_extract(entry, '$.time')),"
    " count(*), group_concat(DISTINCT json_extract(entry, '$.level'))"
    f" FROM audit_log WHERE {_OF_SUBJECT} AND json_extract(entry, '$.event') IN"
    f" ({', '.join(repr(event.value) for event in EXPOSURES)})"
    " GROUP BY recipient ORDER BY recipient"
)
"""Who was shown ``:subject``, when first and last, how often and at which levels."""

EVENT_MEANINGS: Mapping[AuditEvent, str] = {
    AuditEvent.DISCLOSURE: "one of this node's patients was shown in a match result: to a peer "
    "answering its query, or to another submitter of this node in a local match",
    AuditEvent.OUTBOUND_REQUEST: "one of this node's patients was sent to a peer in a match "
    "request (written before the request leaves)",
    AuditEvent.AUTHENTICATION_FAILED: "a request came with a missing, unknown or revoked token "
    "(the actor is the caller's address; the token is never written)",
    AuditEvent.ERASURE: "a patient was erased, with the recipients it had been shown to",
    AuditEvent.TOKEN_CREATED: "a client's token was created",
    AuditEvent.TOKEN_REVOKED: "a client's token was revoked",
    AuditEvent.PEER_ADDED: "a peer node was registered",
    AuditEvent.PEER_CHANGED: "a peer node's address, country, disclosure limit or state changed",
    AuditEvent.PEER_REMOVED: "a peer node was removed",
    AuditEvent.RETENTION: "match history older than the retention period was erased",
}
"""What an entry of each event records, in a sentence for the people who read the log."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One event. ``actor`` caused it (a client name, ``cli``, ``node``); ``recipient`` was
    shown something (a peer, or ``local:<owner>``); ``subject`` names the patient concerned.
    """

    event: AuditEvent
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    actor: str | None = None
    recipient: str | None = None
    subject: str | None = None
    pseudonym: str | None = None
    level: str | None = None
    score: float | None = None
    test: bool | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The entry as JSON data (absent values left out)."""
        return self._document(_utc_text(self.time))

    def _document(self, time: str) -> dict[str, Any]:
        """:meth:`document` with its ``time`` already written (see :func:`_entry_texts`)."""
        document = {
            "event": self.event.value,
            "time": time,
            "actor": self.actor,
            "recipient": self.recipient,
            "subject": self.subject,
            "pseudonym": self.pseudonym,
            "level": self.level,
            "score": None if self.score is None else round(self.score, 6),
            "test": self.test,
            "details": dict(self.details) or None,
        }
        return {key: value for key, value in document.items() if value is not None}


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: its place in the log, its JSON data and its chain hash."""

    seq: int
    document: dict[str, Any]
    hash: str


@dataclass(frozen=True, slots=True)
class Verification:
    """What :meth:`AuditLog.verify` found. ``first_bad`` is the first entry changed or removed."""

    entries: int
    head_seq: int
    head_hash: str
    problem: str | None = None
    first_bad: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class Exposure:
    """How one recipient was shown one patient: when first and last, how often, how much."""

    recipient: str
    first: str
    last: str
    times: int
    levels: tuple[str, ...]


class AuditLog:
    """The audit log in the node's SQLite file at ``database_path``, chained with ``key``.

    Safe to share between threads. :meth:`record_later` queues an entry on one
    background thread, for callers that must not wait (a failed authentication
    on the event loop); :meth:`close` waits for the queue.
    """

    def __init__(self, database_path: Path, key: NodeKey) -> None:
        self._database = SerialConnection(database_path, "audit log")
        self._key = key
        self._background: ThreadPoolExecutor | None = None
        self._background_lock = threading.Lock()

    def close(self) -> None:
        with self._background_lock:
            background, self._background = self._background, None
        if background is not None:
            background.shutdown(wait=True)
        self._database.close()

    # ------------------------------------------------------------ writing

    def append_in(self, db: sqlite3.Connection, entries: Sequence[AuditEntry]) -> None:
        """Append ``entries`` inside the caller's open write transaction on ``db``.

        They are committed (or rolled back) with whatever else the caller
        writes: a disclosure and its entry are one transaction.
        """
        if not entries:
            return
        head, previous = db.execute("SELECT seq, hash FROM audit_head").fetchone()
        chain = self._chain()
        rows = []
        for seq, text in _entry_texts(head + 1, entries):
            previous = chain(previous, text)
            rows.append((seq, text, previous))
        db.executemany("INSERT INTO audit_log (seq, entry, hash) VALUES (?, ?, ?)", rows)
        db.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq, previous))

    async def record(self, *entries: AuditEntry) -> None:
        """Append ``entries`` in a transaction of their own, durable when this returns."""
        await asyncio.to_thread(self.record_now, *entries)

    def record_now(self, *entries: AuditEntry) -> None:
        """:meth:`record`, blocking (the command line, worker threads)."""
        with self._database.transaction("IMMEDIATE") as db:
            self.append_in(db, entries)

    def record_later(self, entry: AuditEntry) -> None:
        """Queue ``entry`` for a background thread; a failure to write it is logged."""
        with self._background_lock:
            if self._background is None:
                self._background = ThreadPoolExecutor(1, thread_name_prefix="audit")
            background = self._background
        background.submit(self._record_logged, entry)

    def _record_logged(self, entry: AuditEntry) -> None:
        try:
            self.record_now(entry)
        except Exception:
            log.exception("could not write a %s entry to the audit log", entry.event.value)

    def _chain(self) -> Callable[[str, str], str]:
        """``chain(previous, text)``: the hash of an entry's ``text`` after the ``previous``
        entry's hash (the key's start hashed once for all the entries it is called for)."""
        return self._key.digester("audit-chain")

    # ------------------------------------------------------------ reading

    async def entries(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        since: datetime | None = None,
        subject: str | None = None,
        event: AuditEvent | None = None,
    ) -> list[StoredEntry]:
        """Entries after sequence number ``after``, oldest first, at most ``limit``."""
        return await asyncio.to_thread(
            lambda: list(self.iter_entries(after, limit, since, subject, event))
        )

    async def newest(
        self, *, before: int | None = None, limit: int = 50, event: AuditEvent | None = None
    ) -> list[StoredEntry]:
        """Entries before sequence number ``before`` (None: the latest), newest first.

        A page costs the same wherever it is in the log, however long the log
        has grown and however rare the ``event``: an index range on ``seq``,
        or on the kind of entry then ``seq``.
        """
        where, parameters = _filters(event=event)
        query = (
            f"SELECT seq, entry, hash FROM audit_log WHERE seq < :before{where}"
            " ORDER BY seq DESC LIMIT :limit"
        )
        parameters.update(before=MAX_ROWID if before is None else before, limit=limit)

        def read() -> list[StoredEntry]:
            with self._database.held() as db:
                rows = db.execute(query, parameters).fetchall()
            return [StoredEntry(seq, json.loads(text), digest) for seq, text, digest in rows]

        return await asyncio.to_thread(read)

    def iter_entries(
        self,
        after: int = 0,
        limit: int | None = None,
        since: datetime | None = None,
        subject: str | None = None,
        event: AuditEvent | None = None,
    ) -> Iterator[StoredEntry]:
        """:meth:`entries`, blocking, read a page at a time (``limit`` None: all of them)."""
        where, parameters = _filters(since, subject, event)
        query = _ENTRIES_AFTER.format(where=where)
        left = limit
        while left is None or left > 0:
            page = _PAGE if left is None else min(left, _PAGE)
            with self._database.held() as db:
                rows = db.execute(query, {**parameters, "after": after, "limit": page}).fetchall()
            for seq, text, digest in rows:
                yield StoredEntry(seq, json.loads(text), digest)
            if len(rows) < page:
                return
            after = rows[-1][0]
            left = None if left is None else left - len(rows)

    async def exposures(self, subject: str) -> list[Exposure]:
        """Who was shown the patient named ``subject``, and how: one per recipient."""
        return await asyncio.to_thread(self.exposures_now, subject)

    def exposures_now(self, subject: str) -> list[Exposure]:
        with self._database.held() as db:
            rows = db.execute(_EXPOSURES, {"subject": subject, "after": 0}).fetchall()
        return [
            Exposure(recipient, first, last, int(times), tuple(sorted((levels or "").split(","))))
            for recipient, first, last, times, levels in rows
        ]

    async def verify(self) -> Verification:
        return await asyncio.to_thread(self.verify_now)

    def verify_now(self) -> Verification:
        """Recompute the chain; name the first entry changed or removed (if any).

        Reads in one transaction, so entries appended meanwhile do not count.
        """
        with self._database.transaction() as db:
            head_seq, head_hash = db.execute("SELECT seq, hash FROM audit_head").fetchone()
            found = self._check_chain(db)
        entries, last_seq, last_hash, problem, first_bad = found
        if problem is None and last_seq < head_seq:
            problem = (
                f"entry {last_seq + 1} was removed: the log ends at entry {last_seq} "
                f"but its head records entry {head_seq}"
            )
            first_bad = last_seq + 1
        elif problem is None and (last_seq, last_hash) != (head_seq, head_hash):
            problem = f"entry {head_seq} was changed: its hash differs from the head's"
            first_bad = head_seq
        return Verification(entries, head_seq, head_hash, problem, first_bad)

    def _check_chain(self, db: sqlite3.Connection) -> tuple[int, int, str, str | None, int | None]:
        """(entries read, last seq, last hash, problem, first bad seq) along the chain."""
        previous, expected, count = GENESIS, 1, 0
        chain = self._chain()
        for seq, text, digest in db.execute("SELECT seq, entry, hash FROM audit_log ORDER BY seq"):
            count += 1
            if seq != expected:
                return count, seq, digest, f"entry {expected} was removed", expected
            if not _numbered(text, seq) or chain(previous, text) != digest:
                return count, seq, digest, f"entry {seq} was changed", seq
            previous, expected = digest, seq + 1
        return count, expected - 1, previous, None, None


def peer_changed(event: AuditEvent, peer: Peer, actor: str) -> AuditEntry:
    """The entry of a peer added, changed or removed: its policy and state, never its token."""
    return AuditEntry(
        event,
        actor=actor,
        recipient=peer.name,
        details={
            "url": peer.base_url,
            "country": peer.country,
            "max_disclosure": peer.max_disclosure.value if peer.max_disclosure else None,
            "enabled": peer.enabled,
        },
    )


def token_changed(event: AuditEvent, client: str, role: str, actor: str) -> AuditEntry:
    """The entry of a client token created or revoked (the token itself never)."""
    return AuditEntry(event, actor=actor, details={"client": client, "role": role})


def _filters(
    since: datetime | None = None, subject: str | None = None, event: AuditEvent | None = None
) -> tuple[str, dict[str, Any]]:
    """SQL conditions (each starting with `` AND``) selecting entries, and their parameters.

    A subject (one patient) is more selective than any kind of entry: with
    both, the kind's condition is written so that it cannot use its index
    (the unary ``+``), leaving SQLite the subject's entries.
    """
    where = ""
    parameters: dict[str, Any] = {}
    if since is not None:
        where += " AND json_extract(entry, '$.time') >= :since"
        parameters["since"] = _utc_text(since)
    if subject is not None:
        where += f" AND {_OF_SUBJECT}"
        parameters["subject"] = subject
    if event is not None:
        where += f" AND {'+' if subject is not None else ''}json_extract(entry, '$.event') = :event"
        parameters["event"] = event.value
    return where, parameters


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
)
"""What writes an entry's text: ``json.dumps`` with these options builds an encoder per call."""


def _utc_text(time: datetime) -> str:
    """``time`` as the log writes it: UTC, to the microsecond."""
    return time.astimezone(UTC).isoformat(timespec="microseconds")


def _entry_texts(first: int, entries: Sequence[AuditEntry]) -> Iterator[tuple[int, str]]:
    """Each entry's sequence number (from ``first`` on) and canonical JSON text, which the
    chain hash covers.

    The entries of one match share one time object: it is written once for
    them all, not once per result.
    """
    time: object = object()  # no entry's time: the first entry's is written
    written = ""
    for seq, entry in enumerate(entries, first):
        if entry.time is not time:
            time, written = entry.time, _utc_text(entry.time)
        text = _disclosure_text(seq, entry, written)
        yield seq, text or _CANONICAL.encode({"seq": seq, **entry._document(written)})


def _disclosure_text(seq: int, entry: AuditEntry, time: str) -> str | None:
    """The canonical text of an entry with every field but ``details``, written directly;
    None for any other entry.

    A ``/match`` answer writes one such entry per result (a disclosure):
    building its document and encoding it with sorted keys cost a quarter
    of recording the answer. The text is the same, byte for byte (tested):
    the keys in sorted order, each string as ``ensure_ascii`` JSON writes
    it, the score rounded as the document rounds it.
    """
    actor, recipient, subject = entry.actor, entry.recipient, entry.subject
    pseudonym, level, score, test = entry.pseudonym, entry.level, entry.score, entry.test
    if (
        entry.details
        or actor is None
        or recipient is None
        or subject is None
        or pseudonym is None
        or level is None
        or type(score) is not float
        or not math.isfinite(score)
        or type(test) is not bool
    ):
        return None
    return (
        f'{{"actor":{_ascii(actor)},"event":{_ascii(entry.event.value)},'
        f'"level":{_ascii(level)},"pseudonym":{_ascii(pseudonym)},'
        f'"recipient":{_ascii(recipient)},"score":{float.__repr__(round(score, 6))},'
        f'"seq":{seq},"subject":{_ascii(subject)},"test":{"true" if test else "false"},'
        f'"time":{_ascii(time)}}}'
    )


def _numbered(text: str, seq: int) -> bool:
    """Whether stored ``text`` is an entry that says it is entry ``seq``."""
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("seq") == seq
