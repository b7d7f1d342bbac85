"""What the SQLite store does beyond the shared contract: layout, cascade, bad rows."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from store_samples import sample_record

from mme_node.errors import InvalidPatient, ServiceUnavailable
from mme_node.stores import SQLitePatientStore
from mme_node.stores.database import open_database
from mme_node.stores.sqlite import INLINE_READ_KEYS
from tests.loop_checks import awaited_while_held, calling_threads

pytestmark = pytest.mark.anyio


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "mme-node.sqlite3"


@pytest.fixture
async def store(path: Path) -> AsyncIterator[SQLitePatientStore]:
    store = SQLitePatientStore(path, batch_size=4, read_chunk=3)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def add_history_table(path: Path) -> sqlite3.Connection:
    """A table following the cascade rule, as match history or disclosure audit will."""
    connection = open_database(path)
    connection.execute(
        "CREATE TABLE history (patient_pk INTEGER NOT NULL "
        "REFERENCES patients (pk) ON DELETE CASCADE, note TEXT)"
    )
    connection.execute(
        "INSERT INTO history SELECT pk, 'matched' FROM patients WHERE patient_id = 'case-000001'"
    )
    return connection


async def test_replacing_a_patient_keeps_rows_that_reference_it(
    store: SQLitePatientStore, path: Path
) -> None:
    await store.save(sample_record(1))
    connection = add_history_table(path)

    await store.save(sample_record(1))

    assert connection.execute("SELECT count(*) FROM history").fetchone() == (1,)


async def test_deleting_a_patient_cascades_to_rows_that_reference_it(
    store: SQLitePatientStore, path: Path
) -> None:
    await store.save(sample_record(1))
    await store.save(sample_record(2))
    connection = add_history_table(path)

    await store.delete("clinic-a", "case-000001")

    assert connection.execute("SELECT count(*) FROM history").fetchone() == (0,)


async def test_records_survive_closing_and_reopening(store: SQLitePatientStore, path: Path) -> None:
    stored, _ = await store.save(sample_record(1))
    await store.close()

    reopened = SQLitePatientStore(path)
    await reopened.open()
    try:
        assert await reopened.get("clinic-a", "case-000001") == stored
    finally:
        await reopened.close()


async def test_import_rejects_a_record_breaking_a_constraint_and_keeps_its_batch(
    store: SQLitePatientStore,
) -> None:
    too_long = sample_record(2)
    too_long = dataclasses.replace(too_long, patient=too_long.patient.replace(id="x" * 256))

    report = await store.import_many([sample_record(1), too_long, sample_record(3)])

    assert report.imported == 2
    assert [r.patient_id for r in report.rejected] == ["x" * 256]
    assert "CHECK constraint" in report.rejected[0].reason
    assert await store.count() == 2


async def test_import_rejects_text_that_utf8_cannot_hold(store: SQLitePatientStore) -> None:
    broken = dataclasses.replace(sample_record(2), submitted_json='{"id": "\udc80"}')

    report = await store.import_many([sample_record(1), broken])

    assert report.imported == 1
    assert [r.patient_id for r in report.rejected] == ["case-000002"]


async def test_saving_an_unstorable_record_is_invalid_patient(store: SQLitePatientStore) -> None:
    empty_owner = sample_record(1, owner="")

    with pytest.raises(InvalidPatient, match="case-000001"):
        await store.save(empty_owner)


async def test_progress_is_reported_once_per_committed_batch(store: SQLitePatientStore) -> None:
    progress: list[int] = []

    await store.import_many([sample_record(n) for n in range(10)], on_progress=progress.append)

    assert progress == [4, 4, 2]


async def test_iter_records_reads_across_chunks(store: SQLitePatientStore) -> None:
    await store.import_many(sample_record(n) for n in range(10))

    seen = [record.patient.id async for record in store.iter_records()]

    assert seen == [f"case-{n:06d}" for n in range(10)]


async def test_store_used_before_open_is_unavailable(path: Path) -> None:
    with pytest.raises(ServiceUnavailable, match="not open"):
        await SQLitePatientStore(path).count()


async def test_a_closed_store_is_not_reachable(store: SQLitePatientStore) -> None:
    await store.close()

    assert not await store.reachable()


async def test_health_of_closed_store_is_not_ok(store: SQLitePatientStore) -> None:
    await store.close()

    health = await store.health()

    assert not health.ok
    assert health.kind == "sqlite"


async def test_a_read_of_a_few_patients_is_done_on_the_event_loop_a_larger_one_in_a_worker(
    store: SQLitePatientStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.import_many(sample_record(n) for n in range(INLINE_READ_KEYS + 1))
    keys = [("clinic-a", sample_record(n).patient.id) for n in range(INLINE_READ_KEYS + 1)]
    threads = calling_threads(monkeypatch, SQLitePatientStore, "_read_many")

    few = await store.get_many(keys[:INLINE_READ_KEYS])
    many = await store.get_many(keys)

    assert threads[0] == threading.get_ident() != threads[1]
    assert [r.key for r in few if r] == keys[:INLINE_READ_KEYS]
    assert [r.key for r in many if r] == keys


async def test_a_small_read_while_the_reader_is_busy_waits_in_a_worker_not_on_the_loop(
    store: SQLitePatientStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.import_many([sample_record(1)])
    threads = calling_threads(monkeypatch, SQLitePatientStore, "_read_many")
    reading = store.get_many([("clinic-a", sample_record(1).patient.id)])

    (record,) = await awaited_while_held(store._read_lock, reading)

    assert record is not None and record.patient.id == sample_record(1).patient.id
    assert threads and threads[0] != threading.get_ident()


async def test_a_small_read_that_sqlite_would_make_wait_is_done_in_a_worker(
    store: SQLitePatientStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.import_many([sample_record(1)])
    threads: list[int] = []
    read_many = SQLitePatientStore._read_many

    def busy_on_the_loop(connection: sqlite3.Connection, keys: Any) -> Any:
        threads.append(threading.get_ident())
        (timeout,) = connection.execute("PRAGMA busy_timeout").fetchone()
        if threading.get_ident() == loop_thread:
            assert timeout == 0  # SQLite must not make the loop wait
            raise sqlite3.OperationalError("database is locked")
        return read_many(connection, keys)

    monkeypatch.setattr(SQLitePatientStore, "_read_many", staticmethod(busy_on_the_loop))
    loop_thread = threading.get_ident()

    (record,) = await store.get_many([("clinic-a", sample_record(1).patient.id)])

    assert record is not None and record.patient.id == sample_record(1).patient.id
    assert threads[0] == loop_thread != threads[1]
