"""The node's SQLite file: opening connections with safe settings, and the schema.

Patients, client tokens and (later) match history live in one file,
``settings.database_path``. Every connection is opened here so that each one
gets the same durability settings, and the schema is created and upgraded
here by numbered migrations recorded in ``PRAGMA user_version``.

Rules for new tables (see ``docs/storage.md``): a table that mentions a
patient references ``patients(pk)`` with ``ON DELETE CASCADE``, so that
deleting a patient erases it everywhere; new tables and columns arrive as a
new entry appended to :data:`MIGRATIONS`, never by editing an old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

from mme_node.errors import ServiceUnavailable
from mme_node.stores.write_gate import WriteGate

P = ParamSpec("P")
T = TypeVar("T")

MINIMUM_SQLITE = (3, 38, 0)
"""STRICT tables (3.37), RETURNING (3.35), built-in JSON functions and the ``->>``
operator (3.38, reading keys passed as JSON) are used."""

MAX_ROWID = 2**63 - 1
"""SQLite's largest integer, so its largest rowid: the bound of every cursor over one
(a match id, an audit sequence number); a larger one cannot even be bound to a query."""

BUSY_TIMEOUT_MS = 10_000
"""How long a writer waits for another process's write (an import from the CLI) to finish."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # pk is the internal key other tables reference; (owner, patient_id) is
        # the identity callers use. Replacing a patient updates the row in place
        # (it never deletes and re-inserts), so rows referencing pk survive it.
        """
        CREATE TABLE patients (
            pk INTEGER PRIMARY KEY,
            owner TEXT NOT NULL CHECK (owner <> ''),
            patient_id TEXT NOT NULL CHECK (patient_id <> '' AND length(patient_id) <= 255),
            version INTEGER NOT NULL CHECK (version >= 1),
            hpo_release TEXT NOT NULL,
            test INTEGER NOT NULL CHECK (test IN (0, 1)),
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            warnings TEXT NOT NULL CHECK (json_valid(warnings)),
            patient TEXT NOT NULL CHECK (json_valid(patient)),
            submitted_json TEXT NOT NULL,
            UNIQUE (owner, patient_id)
        ) STRICT
        """,
        "CREATE INDEX patients_by_patient_id ON patients (patient_id, owner)",
        """
        CREATE TABLE clients (
            pk INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE CHECK (name <> ''),
            role TEXT NOT NULL CHECK (role IN ('submitter', 'peer', 'admin')),
            token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
            created TEXT NOT NULL,
            revoked_at TEXT
        ) STRICT
        """,
    ),
    (
        # Match history. It names patients by (owner, patient_id) rather than
        # patients(pk) because it is kept in this file whichever store holds the
        # patients (Elasticsearch too); the patient service erases a deleted
        # patient's rows explicitly (MatchHistory.forget_patient).
        """
        CREATE TABLE match_requests (
            pk INTEGER PRIMARY KEY,
            direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'local')),
            peer TEXT NOT NULL,
            created TEXT NOT NULL,
            owner TEXT,
            patient_id TEXT,
            query_patient_id TEXT NOT NULL,
            test INTEGER NOT NULL CHECK (test IN (0, 1)),
            status INTEGER,
            error_kind TEXT,
            error_message TEXT
        ) STRICT
        """,
        "CREATE INDEX match_requests_by_patient ON match_requests (owner, patient_id, pk)",
        """
        CREATE TABLE match_results (
            request_pk INTEGER NOT NULL REFERENCES match_requests (pk) ON DELETE CASCADE,
            rank INTEGER NOT NULL,
            score REAL NOT NULL CHECK (score >= 0 AND score <= 1),
            owner TEXT,
            patient_id TEXT NOT NULL,
            patient_json TEXT,
            PRIMARY KEY (request_pk, rank)
        ) STRICT
        """,
        "CREATE INDEX match_results_by_patient ON match_results (owner, patient_id)",
    ),
    (
        # The inbox: when the owner concerned by a result marked it as seen
        # (NULL: not yet). One owner per result: ours for an inbound result, the
        # query patient's owner for an outbound one.
        "ALTER TABLE match_results ADD COLUMN seen_at TEXT",
    ),
    (
        # The novelty of a result ("did an earlier match of the same thread return
        # this patient?") as an index lookup. A thread is one direction, one peer
        # and one query patient: the peer's patient (by id) for inbound matches,
        # ours (owner and id) for outbound and local ones, whose query_owner is
        # '' for inbound. Each result names its thread and keeps the flag it was
        # given when recorded; earlier results are found through
        # match_results_by_thread, whatever the size of the history.
        """
        CREATE TABLE match_threads (
            pk INTEGER PRIMARY KEY,
            direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'local')),
            peer TEXT NOT NULL,
            query_owner TEXT NOT NULL,
            query_patient_id TEXT NOT NULL,
            UNIQUE (query_owner, query_patient_id, direction, peer)
        ) STRICT
        """,
        "ALTER TABLE match_results ADD COLUMN thread_pk INTEGER REFERENCES match_threads (pk)",
        "ALTER TABLE match_results ADD COLUMN new INTEGER CHECK (new IN (0, 1))",
        """
        INSERT INTO match_threads (direction, peer, query_owner, query_patient_id)
        SELECT DISTINCT direction, peer,
            CASE WHEN direction = 'inbound' THEN '' ELSE coalesce(owner, '') END,
            CASE WHEN direction = 'inbound' THEN query_patient_id
                ELSE coalesce(patient_id, query_patient_id) END
        FROM match_requests WHERE pk IN (SELECT request_pk FROM match_results)
        """,
        """
        UPDATE match_results SET thread_pk = (
            SELECT t.pk FROM match_requests q JOIN match_threads t
            ON t.direction = q.direction AND t.peer = q.peer
            AND t.query_owner =
                CASE WHEN q.direction = 'inbound' THEN '' ELSE coalesce(q.owner, '') END
            AND t.query_patient_id = CASE WHEN q.direction = 'inbound' THEN q.query_patient_id
                ELSE coalesce(q.patient_id, q.query_patient_id) END
            WHERE q.pk = match_results.request_pk
        )
        """,
        "CREATE INDEX match_results_by_thread ON match_results (thread_pk, patient_id, owner)",
        # The flags as the earlier rule computed them when read, kept from now on.
        """
        UPDATE match_results SET new = NOT EXISTS (
            SELECT 1 FROM match_results earlier
            WHERE earlier.thread_pk = match_results.thread_pk
            AND earlier.patient_id = match_results.patient_id
            AND earlier.owner IS match_results.owner
            AND earlier.request_pk < match_results.request_pk
        )
        """,
    ),
    (
        # The patient's consent (codec JSON); NULL when none was given, so that
        # the node's default consent applies (docs/governance.md).
        """
        ALTER TABLE patients ADD COLUMN
        consent TEXT CHECK (consent IS NULL OR json_valid(consent))
        """,
    ),
    (
        # The change feed (docs/storage.md, "Change feed"). Every acknowledged
        # patient write appends a 'patient' row in its own transaction; every HPO
        # release activation appends a 'release' row. Running processes poll the
        # highest seq and apply what is new to their in-memory state. AUTOINCREMENT:
        # a seq is never reused, even once old rows are pruned. Patient rows name
        # the patient by (owner, patient_id) because a deletion must be announced
        # after the patient's row is gone; they are pruned after a few minutes.
        """
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            created TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('patient', 'release')),
            owner TEXT,
            patient_id TEXT,
            release_key TEXT,
            release_version TEXT,
            actor TEXT,
            CHECK ((kind = 'patient') = (owner IS NOT NULL AND patient_id IS NOT NULL)),
            CHECK ((kind = 'release') = (release_key IS NOT NULL AND release_version IS NOT NULL))
        ) STRICT
        """,
        "CREATE INDEX changes_of_releases ON changes (seq) WHERE kind = 'release'",
        # The highest seq pruned so far: a process that applied less must reload.
        """
        CREATE TABLE change_horizon (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            pruned_through INTEGER NOT NULL
        ) STRICT
        """,
        "INSERT INTO change_horizon VALUES (1, 0)",
    ),
    (
        # Who asked, for an inbound match: the contact of the peer's query patient
        # (codec JSON), so that our clinicians can reach them from the history.
        """
        ALTER TABLE match_requests ADD COLUMN
        query_contact TEXT CHECK (query_contact IS NULL OR json_valid(query_contact))
        """,
    ),
    (
        # What was disclosed (docs/governance.md): the pseudonym one of our
        # patients was shown under and the level shown, for each result of an
        # inbound or local match, and for the query of an outbound one.
        "ALTER TABLE match_results ADD COLUMN shown_as TEXT",
        "ALTER TABLE match_results ADD COLUMN disclosure TEXT",
        "ALTER TABLE match_requests ADD COLUMN shown_as TEXT",
        "ALTER TABLE match_requests ADD COLUMN disclosure TEXT",
    ),
    (
        # Web app sessions (mme_node.security.sessions): the cookie value is
        # kept only as its SHA-256 digest, like client tokens.
        """
        CREATE TABLE web_sessions (
            id_sha256 TEXT PRIMARY KEY CHECK (length(id_sha256) = 64),
            purpose TEXT NOT NULL CHECK (purpose IN ('sign-in', 'signed-in')),
            data TEXT NOT NULL CHECK (json_valid(data)),
            created TEXT NOT NULL,
            expires TEXT NOT NULL
        ) STRICT
        """,
        "CREATE INDEX web_sessions_by_expiry ON web_sessions (expires)",
    ),
    (
        # HPO release reports (mme_node/services/release_report.py): one per release
        # activation (seq of its 'release' change), and one row per patient whose
        # terms changed or cannot be placed. Patients are named by (owner,
        # patient_id) as in the match history (Elasticsearch nodes keep patients
        # elsewhere); deleting a patient erases its rows explicitly.
        """
        CREATE TABLE hpo_reports (
            seq INTEGER PRIMARY KEY,
            created TEXT NOT NULL,
            actor TEXT,
            summary TEXT NOT NULL CHECK (json_valid(summary))
        ) STRICT
        """,
        """
        CREATE TABLE hpo_report_patients (
            report_seq INTEGER NOT NULL REFERENCES hpo_reports (seq) ON DELETE CASCADE,
            owner TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            changes TEXT NOT NULL CHECK (json_valid(changes)),
            PRIMARY KEY (report_seq, owner, patient_id)
        ) STRICT
        """,
        "CREATE INDEX hpo_report_patients_by_patient ON hpo_report_patients (owner, patient_id)",
        # Owner notices (mme_node/services/notices.py): what the node tells a
        # submitter besides new matches (terms not carried over to a new HPO
        # release, ...), shown in the inbox and marked as seen there.
        """
        CREATE TABLE notices (
            pk INTEGER PRIMARY KEY,
            owner TEXT NOT NULL,
            patient_id TEXT,
            kind TEXT NOT NULL,
            created TEXT NOT NULL,
            message TEXT NOT NULL,
            details TEXT NOT NULL CHECK (json_valid(details)),
            seen_at TEXT
        ) STRICT
        """,
        "CREATE INDEX notices_by_owner ON notices (owner, pk)",
        "CREATE INDEX notices_by_patient ON notices (owner, patient_id)",
    ),
    (
        # The audit log (mme_node/security/audit.py, docs/governance.md): entries
        # as canonical JSON, each with the keyed hash chaining it to the one
        # before; the head keeps the last entry, so removing the newest shows.
        # Append-only: the triggers refuse changes (a deliberate edit with the
        # triggers dropped still breaks the chain). No patient identifier here.
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY CHECK (seq >= 1),
            entry TEXT NOT NULL,
            hash TEXT NOT NULL
        ) STRICT
        """,
        """
        CREATE TABLE audit_head (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        ) STRICT
        """,
        "INSERT INTO audit_head VALUES (1, 0, '" + "0" * 64 + "')",
        """
        CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_head_stays BEFORE DELETE ON audit_head
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
        """,
        "CREATE INDEX audit_by_subject ON audit_log (json_extract(entry, '$.subject'))",
        "CREATE INDEX audit_by_time ON audit_log (json_extract(entry, '$.time'))",
    ),
    (
        # Erasure announcements in the change feed (docs/storage.md, "Change
        # feed"): an erasure deletes every change naming the patient and appends
        # an 'erasure' row naming it only by its audit subject (a keyed digest),
        # so that other processes drop that one patient instead of rebuilding.
        # SQLite cannot change a CHECK in place: the table is copied, and its
        # AUTOINCREMENT counter carried over (seqs are never reused).
        """
        CREATE TABLE changes_v2 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            created TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('patient', 'release', 'erasure')),
            owner TEXT,
            patient_id TEXT,
            release_key TEXT,
            release_version TEXT,
            actor TEXT,
            subject TEXT,
            CHECK ((kind = 'patient') = (owner IS NOT NULL AND patient_id IS NOT NULL)),
            CHECK ((kind = 'release') = (release_key IS NOT NULL AND release_version IS NOT NULL)),
            CHECK ((kind = 'erasure') = (subject IS NOT NULL)),
            CHECK (kind != 'erasure' OR (owner IS NOT NULL AND patient_id IS NULL))
        ) STRICT
        """,
        """
        INSERT INTO changes_v2
            (seq, created, kind, owner, patient_id, release_key, release_version, actor)
        SELECT seq, created, kind, owner, patient_id, release_key, release_version, actor
        FROM changes
        """,
        "DELETE FROM sqlite_sequence WHERE name = 'changes_v2'",
        "UPDATE sqlite_sequence SET name = 'changes_v2' WHERE name = 'changes'",
        "DROP TABLE changes",
        "ALTER TABLE changes_v2 RENAME TO changes",
        "CREATE INDEX changes_of_releases ON changes (seq) WHERE kind = 'release'",
    ),
    (
        # The inbox reads only results not yet seen: an inbound one found by the
        # owner of our patient, an outbound one by its match request. Partial
        # indexes hold just those rows, so a count does not grow with the history.
        "CREATE INDEX match_results_unseen_by_owner ON match_results (owner)"
        " WHERE seen_at IS NULL AND new",
        "CREATE INDEX match_results_unseen_by_request ON match_results (request_pk)"
        " WHERE seen_at IS NULL AND new",
    ),
    (
        # The audit log by kind of entry, for pages of one kind (the admin page's
        # filter, `audit export --event`): an index range in sequence order (the
        # index ends with the rowid, seq), however rare the kind and long the log.
        "CREATE INDEX audit_by_event ON audit_log (json_extract(entry, '$.event'))",
    ),
    (
        # A page of a patient's history, newest first (MatchHistory.history_page):
        # its results in match order, so the page reads the index backwards and
        # stops. The old index is this one's prefix: lookups by patient (erasure,
        # MatchHistory.mentions) use the new one, and one index fewer to write.
        "CREATE INDEX match_results_by_patient_request"
        " ON match_results (owner, patient_id, request_pk)",
        "DROP INDEX IF EXISTS match_results_by_patient",
    ),
    (
        # Match ids only grow. They are cursors (a history page's ``before``) and
        # name the match the inbox's "mark as seen" acts on; SQLite numbers a new
        # row one above the largest id in use, so erasing or purging the newest
        # matches gave their ids to the next ones: a stale page could mark a
        # match seen that nobody had seen. ``match_ids.top`` is the largest id
        # given; MatchHistory inserts ``top + 1``, and the triggers refuse an id
        # not above ``top`` (an insert without one, as versions before this step
        # made: stop every older process before this one opens the file) and
        # move ``top`` on.
        """
        CREATE TABLE match_ids (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            top INTEGER NOT NULL
        ) STRICT
        """,
        "INSERT INTO match_ids SELECT 1, coalesce(max(pk), 0) FROM match_requests",
        """
        CREATE TRIGGER match_ids_never_reused BEFORE INSERT ON match_requests
        WHEN new.pk IS NULL OR new.pk <= (SELECT top FROM match_ids)
        BEGIN SELECT RAISE(ABORT, 'a match id is given once: insert match_ids.top + 1'); END
        """,
        """
        CREATE TRIGGER match_ids_move_on AFTER INSERT ON match_requests
        BEGIN UPDATE match_ids SET top = new.pk; END
        """,
    ),
    (
        # Results and audit entries found by patient are filed late, in sorted
        # batches (mme_node/stores/filing.py), instead of by the two indexes that
        # put each new row on a random page. ``filing_marks.upto``: the highest
        # match id (audit seq) filed; rows above it are the tail, which lookups
        # scan. Only our patients' results are filed (a peer's patient has no
        # owner here, and nothing looks it up). A deleted result takes its
        # filed entry with it (erasure, retention).
        "CREATE TABLE filing_marks (name TEXT PRIMARY KEY, upto INTEGER NOT NULL) STRICT",
        """
        CREATE TABLE match_results_filed (
            owner TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            request_pk INTEGER NOT NULL,
            rank INTEGER NOT NULL,
            PRIMARY KEY (owner, patient_id, request_pk, rank)
        ) STRICT, WITHOUT ROWID
        """,
        """
        INSERT INTO match_results_filed
        SELECT owner, patient_id, request_pk, rank FROM match_results WHERE owner IS NOT NULL
        ORDER BY owner, patient_id, request_pk, rank
        """,
        "INSERT INTO filing_marks SELECT 'match_results', top FROM match_ids",
        """
        CREATE TRIGGER match_results_unfiled AFTER DELETE ON match_results
        WHEN old.owner IS NOT NULL
        BEGIN
            DELETE FROM match_results_filed WHERE owner = old.owner
            AND patient_id = old.patient_id AND request_pk = old.request_pk AND rank = old.rank;
        END
        """,
        # Nothing changes who a result is or where it stands; were it to, the
        # filed entry would name the old patient.
        """
        CREATE TRIGGER match_results_stay_filed
        BEFORE UPDATE OF owner, patient_id, request_pk, rank ON match_results
        BEGIN SELECT RAISE(ABORT, 'a result keeps its patient and place (it is filed)'); END
        """,
        "DROP INDEX match_results_by_patient_request",
        """
        CREATE TABLE audit_subjects (
            subject TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (subject, seq)
        ) STRICT, WITHOUT ROWID
        """,
        """
        INSERT INTO audit_subjects
        SELECT json_extract(entry, '$.subject'), seq FROM audit_log
        WHERE json_extract(entry, '$.subject') IS NOT NULL ORDER BY 1, 2
        """,
        "INSERT INTO filing_marks SELECT 'audit_log', seq FROM audit_head",
        "DROP INDEX audit_by_subject",
    ),
)
"""Schema steps: applying ``MIGRATIONS[n]`` takes the file from version n to n + 1."""


class GatedConnection(sqlite3.Connection):
    """A connection whose write transactions pass the file's :class:`WriteGate` first."""

    gate: WriteGate | None = None

    def close(self) -> None:
        super().close()
        if self.gate is not None:
            self.gate.close()


def open_database(path: Path) -> sqlite3.Connection:
    """A connection to the node's database, created and migrated to the current schema.

    The connection is in autocommit mode (callers write ``BEGIN IMMEDIATE`` /
    ``COMMIT`` themselves), may be used from any thread (callers serialise its
    use), and runs in WAL mode with ``synchronous=FULL``: a committed
    transaction is on disk before ``COMMIT`` returns, and readers never block
    the writer.
    """
    if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
        wanted = ".".join(map(str, MINIMUM_SQLITE))
        raise ServiceUnavailable(
            f"SQLite {sqlite3.sqlite_version} is too old: mme-node needs {wanted} or later"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Patients and token digests: readable by the node's user only (SQLite gives
        # the -wal and -shm files the database file's permissions). Only a file
        # that does not exist yet is created here: closing a descriptor of a file
        # this process has open through SQLite would drop all its POSIX locks on
        # it, and another process could then delete the WAL under our connections.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        connection = sqlite3.connect(
            path,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
            factory=GatedConnection,
        )
    except (OSError, sqlite3.Error) as error:
        raise ServiceUnavailable(f"cannot open database {path}: {error}") from error
    try:
        connection.gate = _opened_gate(path)
        _configure(connection)
        migrate(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _opened_gate(path: Path) -> WriteGate:
    try:
        return WriteGate(path, BUSY_TIMEOUT_MS / 1000)
    except OSError as error:
        raise ServiceUnavailable(f"cannot open the write gate of {path}: {error}") from error


def _configure(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = _write_ahead_logging(connection)
    if mode != "wal":
        raise ServiceUnavailable(f"database cannot use write-ahead logging (mode is {mode!r})")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA foreign_keys = ON")
    # Deleted rows are overwritten with zeros, in their pages and in freed pages, so
    # an erased patient does not survive in the file's free space (docs/governance.md).
    connection.execute("PRAGMA secure_delete = ON")


def _write_ahead_logging(connection: sqlite3.Connection) -> str:
    """Switch to WAL; the journal mode it reports.

    Connections opening a new file at the same moment (the workers of a
    first start) may each want to switch it: SQLite answers "database is
    locked" at once then, without its busy handler, so this waits as the
    busy timeout would.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
            return str(mode)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


WIPE_ATTEMPTS = 20
"""Checkpoint tries before :func:`wipe_log` gives up (a reader holding an old snapshot)."""


def wipe_log(path: Path) -> bool:
    """Copy the write-ahead log into the database file and truncate the log to nothing.

    Deleted content is zeroed in the pages written since (``secure_delete``),
    but earlier copies of those pages stay in the ``-wal`` file and, until a
    checkpoint, in the main file. After this returns True neither holds them.
    False when another connection kept reading an older snapshot throughout
    (the next checkpoint then finishes the job); blocking, call it off the
    event loop.
    """
    connection = open_database(path)
    try:
        for _ in range(WIPE_ATTEMPTS):
            (busy, _, _) = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return True
            time.sleep(0.05)
        return False
    finally:
        connection.close()


def schema_version(connection: sqlite3.Connection) -> int:
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    return int(version)


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection, mode: str = "") -> Iterator[sqlite3.Connection]:
    """One explicit transaction on ``connection``: committed when the block ends, rolled back
    when it raises (the connections run in autocommit mode, so nothing groups statements but
    this). ``mode`` "IMMEDIATE" for a write (takes the write lock at once, after the
    file's write gate for a connection of :func:`open_database`), "" to read.
    """
    gate = connection.gate if mode and isinstance(connection, GatedConnection) else None
    with gate.passed() if gate is not None else contextlib.nullcontext():
        connection.execute(f"BEGIN {mode}")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise


def migrate(connection: sqlite3.Connection) -> None:
    """Apply the migrations the file lacks, each in its own transaction.

    Safe when several processes open the same file at once: the version is
    read again under the write lock, so each step runs exactly once.
    """
    while (current := schema_version(connection)) < len(MIGRATIONS):
        with transaction(connection, "IMMEDIATE"):
            current = schema_version(connection)
            if current < len(MIGRATIONS):
                for statement in MIGRATIONS[current]:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {current + 1}")
    if current > len(MIGRATIONS):
        raise ServiceUnavailable(
            f"database schema version {current} is newer than this mme-node knows "
            f"({len(MIGRATIONS)}): upgrade mme-node"
        )


class SerialConnection:
    """One lazily opened connection to the node's database, used by one thread at a time.

    For the services that keep their own tables in the node's file (client
    tokens, web sessions, the audit log, the change log, owner notices,
    release reports). :meth:`held` gives the connection in autocommit mode and
    :meth:`transaction` inside one transaction, committed on success; both
    turn SQLite failures into ``ServiceUnavailable`` naming ``what``, so that
    callers on the event loop, in worker threads and on the command line get
    the same error. :meth:`run` calls a blocking function in a worker thread.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(function, *args, **kwargs)

    @contextlib.contextmanager
    def held(self) -> Iterator[sqlite3.Connection]:
        """The connection, opened on first use, held exclusively: each statement commits alone."""
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = open_database(self.path)
                yield self._connection
            except sqlite3.Error as error:
                raise self.unavailable(error) from error

    def unavailable(self, error: sqlite3.Error) -> ServiceUnavailable:
        """The error a caller gets for ``error``: 503, naming this service."""
        return ServiceUnavailable(f"{self.what} failed: {error}")

    @contextlib.contextmanager
    def transaction(self, mode: str = "") -> Iterator[sqlite3.Connection]:
        """``mode`` "IMMEDIATE" for a write (the write gate, then the write lock, at once),
        "" to read. A single statement through :meth:`held` commits alone, without the gate."""
        with self.held() as connection, transaction(connection, mode):
            yield connection
