"""The embedded patient store: one SQLite file, the node's store of record.

SQLite calls block, so every call runs in a worker thread (except a read of a
few patients while the reader is free, see :data:`INLINE_READ_KEYS`). The store keeps two
connections: writes go through one, serialised by a lock, each in its own
``BEGIN IMMEDIATE`` transaction; reads go through the other and, thanks to
WAL mode, never wait for a write in progress. A write is acknowledged only
after its ``COMMIT`` returned, which with ``synchronous=FULL`` means it is on
disk and survives a crash or power loss.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from mme_node.errors import Conflict, InvalidPatient, InvalidRequest, NotFound, ServiceUnavailable
from mme_node.model import Patient, PatientRecord
from mme_node.stores.base import (
    ImportReport,
    Page,
    ProgressCallback,
    Rejection,
    StoreHealth,
    already_exists,
    check_save_condition,
)
from mme_node.stores.codec import (
    CodecError,
    decode_consent,
    decode_patient,
    encode_consent,
    encode_patient,
)
from mme_node.stores.database import BUSY_TIMEOUT_MS, open_database, transaction

P = ParamSpec("P")
T = TypeVar("T")

Row = tuple[str, str, str, int, str, str, str, str, str, str | None]
"""What one record is bound to in ``_UPSERT`` (everything the store computes from it)."""

RECORD_COLUMNS = (
    "owner",
    "version",
    "hpo_release",
    "created",
    "updated",
    "warnings",
    "patient",
    "submitted_json",
    "consent",
)
"""The columns :func:`record_from_row` reads, in its order (the change log reads them too)."""

_COLUMNS = ", ".join(RECORD_COLUMNS)

# Replace updates the row in place (never INSERT OR REPLACE, which deletes the
# row and would cascade into every table referencing it).
_UPSERT = """
    INSERT INTO patients (
        owner, patient_id, hpo_release, test, created, updated, warnings, patient,
        submitted_json, consent, version
    )
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
    ON CONFLICT (owner, patient_id) DO UPDATE SET
        version = patients.version + 1,
        hpo_release = excluded.hpo_release,
        test = excluded.test,
        updated = excluded.updated,
        warnings = excluded.warnings,
        patient = excluded.patient,
        submitted_json = excluded.submitted_json,
        consent = excluded.consent
    RETURNING version, created
"""

# Every acknowledged write appends to the change feed in its own transaction
# (mme_node.stores.changes), so that other processes learn of it.
_LOG_CHANGE = """
    INSERT INTO changes (created, kind, owner, patient_id) VALUES (?, 'patient', ?, ?)
"""

# Distinct keys in, one row per stored patient out, through the (owner, patient_id) index.
_GET_MANY = f"""
    SELECT p.owner, p.patient_id, {_COLUMNS} FROM patients p
    WHERE (p.owner, p.patient_id) IN (
        SELECT key.value ->> 0, key.value ->> 1 FROM json_each(?) AS key
    )
"""

INLINE_READ_KEYS = 16
"""``get_many`` of up to this many patients reads on the event loop when the reader is free.

An indexed read of a few rows whose pages are cached costs less than the hand-off
to a worker thread and back (docs/benchmarks.md, "Every core busy"). Larger reads,
and any read while another one holds the reader, go to a worker thread.
"""

_ROW_ERRORS = (CodecError, sqlite3.IntegrityError, UnicodeEncodeError)
"""What a single bad record can cause; anything else is the database failing."""

_Found = list[PatientRecord | None]
"""What ``get_many`` returns (named here: inside the class, ``list`` is a method)."""

_Chunk = list[tuple[int, PatientRecord]]
"""Records of one ``iter_records`` step, each with its internal key."""


class SQLitePatientStore:
    """A :class:`~mme_node.stores.base.PatientStore` in a SQLite file at ``path``.

    ``batch_size`` records are committed per transaction by :meth:`import_many`.
    """

    kind = "sqlite"

    def __init__(self, path: Path, batch_size: int = 1000, read_chunk: int = 1000) -> None:
        self.path = path
        self.batch_size = batch_size
        self.read_chunk = read_chunk
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()

    async def open(self) -> None:
        await self._run(self._open)

    async def close(self) -> None:
        await self._run(self._close)

    async def save(
        self,
        record: PatientRecord,
        expected_version: int | None = None,
        *,
        create_only: bool = False,
    ) -> tuple[PatientRecord, bool]:
        check_save_condition(expected_version, create_only)
        return await self._run(self._save, record, expected_version, create_only)

    async def get(self, owner: str, patient_id: str) -> PatientRecord:
        return await self._run(self._get, owner, patient_id)

    async def get_many(self, keys: Sequence[tuple[str, str]]) -> list[PatientRecord | None]:
        if not keys:
            return []
        if len(keys) <= INLINE_READ_KEYS:
            found = self._read_many_now(keys)
            if found is not None:
                return found
        return await self._run(self._get_many, keys)

    def _read_many_now(self, keys: Sequence[tuple[str, str]]) -> _Found | None:
        """The records of ``keys``, read on the event loop if that cannot wait; else None.

        None when the reader is in use or SQLite would have us wait (its busy
        timeout is 0 for this read: a busy file, as during recovery after a
        crash, must not hold the loop) or fails: a worker thread then reads,
        waits as usual and reports any failure.
        """
        if not self._read_lock.acquire(blocking=False):
            return None
        try:
            reader = self._reader
            if reader is None:
                return None
            reader.execute("PRAGMA busy_timeout = 0")
            try:
                return self._read_many(reader, keys)
            finally:
                reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error:
            return None
        finally:
            self._read_lock.release()

    async def list(self, owner: str | None, offset: int = 0, limit: int = 50) -> Page:
        if offset < 0 or limit < 1:
            raise InvalidRequest(f"bad page: offset {offset} must be >= 0 and limit {limit} >= 1")
        return await self._run(self._list, owner, offset, limit)

    async def delete(self, owner: str, patient_id: str) -> None:
        await self._run(self._delete, owner, patient_id)

    async def import_many(
        self,
        records: Iterable[PatientRecord],
        on_progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Create-or-replace ``records``, one transaction per batch.

        ``on_progress`` is called from a worker thread, after each batch commit,
        with the number of records of that batch (imported or rejected).
        """
        return await self._run(self._import_many, records, on_progress)

    async def iter_records(self) -> AsyncIterator[PatientRecord]:
        """Every record, streamed in chunks of ``read_chunk`` rows in storage order.

        Not a snapshot: a patient written during the iteration may or may not be
        seen, but no patient is seen twice (a replace keeps its place).
        """
        after = 0
        while chunk := await self._run(self._chunk_after, after):
            for _, record in chunk:
                yield record
            after = chunk[-1][0]

    async def count(self) -> int:
        return await self._run(self._count)

    async def health(self) -> StoreHealth:
        try:
            total = await self.count()
        except ServiceUnavailable as error:
            return StoreHealth(ok=False, kind=self.kind, detail=error.message)
        return StoreHealth(ok=True, kind=self.kind, detail=f"{total} patients")

    async def reachable(self) -> bool:
        try:
            await self._run(self._read_one_row)
        except ServiceUnavailable:
            return False
        return True

    async def _run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except sqlite3.Error as error:
            raise ServiceUnavailable(f"patient database failed: {error}") from error

    def _open(self) -> None:
        with self._write_lock, self._read_lock:
            if self._writer is None:
                self._writer = open_database(self.path)
            if self._reader is None:
                self._reader = open_database(self.path)

    def _close(self) -> None:
        with self._write_lock, self._read_lock:
            for connection in (self._writer, self._reader):
                if connection is not None:
                    connection.close()
            self._writer = self._reader = None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """The writer connection inside one immediate transaction, committed on success."""
        with self._write_lock, transaction(_require_open(self._writer), "IMMEDIATE") as connection:
            yield connection

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The reader connection inside one read transaction (a consistent snapshot)."""
        with self._read_lock, transaction(_require_open(self._reader)) as connection:
            yield connection

    def _save(
        self, record: PatientRecord, expected_version: int | None, create_only: bool
    ) -> tuple[PatientRecord, bool]:
        now = datetime.now(UTC)
        try:
            row = _row(record, now)
            # The check and the write share one immediate transaction: no other
            # writer, in this process or another, comes in between.
            with self._writing() as connection:
                if expected_version is not None:
                    _check_version(connection, record, expected_version)
                if create_only and _stored_version(connection, record) is not None:
                    raise already_exists(record)
                version, created = connection.execute(_UPSERT, row).fetchone()
                connection.execute(_LOG_CHANGE, (now.isoformat(), *record.key))
        except _ROW_ERRORS as error:
            raise InvalidPatient(
                f"patient {record.patient.id!r} cannot be stored: {error}"
            ) from error
        stored = PatientRecord(
            owner=record.owner,
            patient=record.patient,
            hpo_release=record.hpo_release,
            submitted_json=record.submitted_json,
            version=version,
            created=datetime.fromisoformat(created),
            updated=now,
            warnings=tuple(record.warnings),
            consent=record.consent,
        )
        return stored, version == 1

    def _get(self, owner: str, patient_id: str) -> PatientRecord:
        with self._reading() as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM patients WHERE owner = ? AND patient_id = ?",
                (owner, patient_id),
            ).fetchone()
        if row is None:
            raise NotFound(f"patient {patient_id!r} not found")
        return record_from_row(row, _recently_read)

    def _get_many(self, keys: Sequence[tuple[str, str]]) -> _Found:
        with self._read_lock:
            return self._read_many(_require_open(self._reader), keys)

    @staticmethod
    def _read_many(connection: sqlite3.Connection, keys: Sequence[tuple[str, str]]) -> _Found:
        """The records of ``keys`` through ``connection`` (its lock held), in one snapshot."""
        with transaction(connection):
            rows = connection.execute(_GET_MANY, (json.dumps(keys),)).fetchall()
        # Decoded once per distinct key (a key asked twice shares its record).
        records = {(row[0], row[1]): record_from_row(row[2:], _recently_read) for row in rows}
        return [records.get((owner, patient_id)) for owner, patient_id in keys]

    def _list(self, owner: str | None, offset: int, limit: int) -> Page:
        where, parameters = ("WHERE owner = ?", (owner,)) if owner is not None else ("", ())
        with self._reading() as connection:
            (total,) = connection.execute(
                f"SELECT count(*) FROM patients {where}", parameters
            ).fetchone()
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM patients {where} "
                "ORDER BY patient_id, owner LIMIT ? OFFSET ?",
                (*parameters, limit, offset),
            ).fetchall()
        return Page(
            records=tuple(map(record_from_row, rows)), total=total, offset=offset, limit=limit
        )

    def _delete(self, owner: str, patient_id: str) -> None:
        with self._writing() as connection:
            deleted = connection.execute(
                "DELETE FROM patients WHERE owner = ? AND patient_id = ?", (owner, patient_id)
            ).rowcount
            if deleted:
                stamp = datetime.now(UTC).isoformat()
                connection.execute(_LOG_CHANGE, (stamp, owner, patient_id))
        if not deleted:
            raise NotFound(f"patient {patient_id!r} not found")

    def _import_many(
        self, records: Iterable[PatientRecord], on_progress: ProgressCallback | None
    ) -> ImportReport:
        report = ImportReport()
        iterator = iter(records)
        while batch := list(islice(iterator, self.batch_size)):
            now = datetime.now(UTC)
            rows: list[tuple[str, Row]] = []
            for record in batch:
                try:
                    rows.append((record.patient.id, _row(record, now)))
                except CodecError as error:
                    report.rejected.append(Rejection(record.patient.id, str(error)))
            changed: list[tuple[str, str, str]] = []
            rejected: list[Rejection] = []
            with self._writing() as connection:
                for patient_id, row in rows:
                    try:
                        connection.execute(_UPSERT, row).fetchone()
                        changed.append((now.isoformat(), row[0], row[1]))
                    except _ROW_ERRORS as error:
                        # A failed statement is undone alone; the transaction goes on.
                        rejected.append(Rejection(patient_id, str(error)))
                connection.executemany(_LOG_CHANGE, changed)
            report.imported += len(changed)
            report.rejected.extend(rejected)
            if on_progress is not None:
                on_progress(len(batch))
        return report

    def _chunk_after(self, after: int) -> _Chunk:
        with self._reading() as connection:
            rows = connection.execute(
                f"SELECT pk, {_COLUMNS} FROM patients WHERE pk > ? ORDER BY pk LIMIT ?",
                (after, self.read_chunk),
            ).fetchall()
        return [(row[0], record_from_row(row[1:])) for row in rows]

    def _read_one_row(self) -> None:
        with self._reading() as connection:
            connection.execute("SELECT 1 FROM patients LIMIT 1").fetchone()

    def _count(self) -> int:
        with self._reading() as connection:
            (total,) = connection.execute("SELECT count(*) FROM patients").fetchone()
        return int(total)


def _require_open(connection: sqlite3.Connection | None) -> sqlite3.Connection:
    if connection is None:
        raise ServiceUnavailable("the patient store is not open")
    return connection


def _check_version(
    connection: sqlite3.Connection, record: PatientRecord, expected_version: int
) -> None:
    found = _stored_version(connection, record)
    if found is None:
        raise Conflict(
            f"patient {record.patient.id!r} does not exist, "
            f"so it cannot be at the expected version {expected_version}"
        )
    if found != expected_version:
        raise Conflict(
            f"patient {record.patient.id!r} is at version {found}, "
            f"not the expected version {expected_version}: fetch it again and retry"
        )


def _stored_version(connection: sqlite3.Connection, record: PatientRecord) -> int | None:
    found = connection.execute(
        "SELECT version FROM patients WHERE owner = ? AND patient_id = ?", record.key
    ).fetchone()
    return None if found is None else int(found[0])


def _row(record: PatientRecord, now: datetime) -> Row:
    """The values ``_UPSERT`` binds for ``record`` written at ``now``."""
    stamp = now.isoformat()
    try:
        warnings = json.dumps(list(record.warnings))
    except (TypeError, ValueError) as error:
        raise CodecError(f"cannot encode warnings: {error}") from error
    return (
        record.owner,
        record.patient.id,
        record.hpo_release,
        int(record.patient.test),
        stamp,
        stamp,
        warnings,
        encode_patient(record.patient),
        record.submitted_json,
        encode_consent(record.consent),
    )


PATIENTS_DECODED_KEPT = 16_384
"""Decoded patients kept per process: every patient of a node up to this size.

At 8,192, a fifth of a 200-result answer at 10,000 patients was decoded
again; a full cache holds about 40 MB (2.5 KB per patient of 8 terms).
"""


@functools.lru_cache(maxsize=PATIENTS_DECODED_KEPT)
def _recently_read(text: str) -> Patient:
    """The patient stored as ``text``, decoded once for the patients read again and again.

    Match answers read the same good matches over and over; decoding is most
    of a read's cost. Keyed by the stored text itself, so a replaced patient
    is never served stale, and patients are immutable values.
    """
    return decode_patient(text)


def record_from_row(
    row: tuple[Any, ...], decode: Callable[[str], Patient] = decode_patient
) -> PatientRecord:
    """The record of one ``patients`` row read as :data:`RECORD_COLUMNS`."""
    owner, version, hpo_release, created, updated, warnings, patient, submitted_json, consent = row
    return PatientRecord(
        owner=owner,
        patient=decode(patient),
        hpo_release=hpo_release,
        submitted_json=submitted_json,
        version=version,
        created=datetime.fromisoformat(created),
        updated=datetime.fromisoformat(updated),
        warnings=tuple(json.loads(warnings)),
        consent=decode_consent(consent),
    )
