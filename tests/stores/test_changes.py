"""The change log: every acknowledged SQLite write is logged in its own transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_samples import sample_record

from mme_node.errors import Conflict
from mme_node.stores.changes import (
    PATIENT_CHANGE_RETENTION,
    ChangeBatch,
    ChangeLog,
    PatientChange,
    ReleaseChange,
)
from mme_node.stores.sqlite import SQLitePatientStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLitePatientStore]:
    store = SQLitePatientStore(tmp_path / "mme-node.sqlite3", batch_size=2)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def changes(store: SQLitePatientStore) -> Iterator[ChangeLog]:
    log = ChangeLog(store.path)
    yield log
    log.close()


async def test_a_new_database_has_an_empty_log(changes: ChangeLog) -> None:
    assert await changes.latest() == 0
    assert await changes.read(0) == ChangeBatch((), 0)
    assert await changes.active_release() is None


async def test_save_replace_and_delete_each_append_one_change(
    store: SQLitePatientStore, changes: ChangeLog
) -> None:
    record = sample_record(1)
    await store.save(record)
    await store.save(record)
    await store.delete(*record.key)

    batch = await changes.read(0)

    assert [c.seq for c in batch.changes] == [1, 2, 3] and batch.through == 3
    assert all(isinstance(c, PatientChange) and c.key == record.key for c in batch.changes)
    assert all(c.record is None for c in batch.changes if isinstance(c, PatientChange))


async def test_a_change_carries_the_patient_as_stored_now(
    store: SQLitePatientStore, changes: ChangeLog
) -> None:
    stored, _ = await store.save(sample_record(1))
    [change] = (await changes.read(0)).changes
    assert isinstance(change, PatientChange) and change.record == stored


async def test_refused_writes_log_nothing(store: SQLitePatientStore, changes: ChangeLog) -> None:
    await store.save(sample_record(1))
    with pytest.raises(Conflict):
        await store.save(sample_record(1), expected_version=7)
    bad = dataclasses.replace(sample_record(2), owner="")  # breaks a CHECK constraint
    report = await store.import_many([sample_record(3), bad, sample_record(4)])

    assert report.imported == 2 and len(report.rejected) == 1
    logged = [c.key[1] for c in (await changes.read(0)).changes if isinstance(c, PatientChange)]
    assert logged == ["case-000001", "case-000003", "case-000004"]


async def test_read_pages_through_the_log_in_seq_order(
    store: SQLitePatientStore, changes: ChangeLog
) -> None:
    await store.import_many(sample_record(n) for n in range(5))
    first = await changes.read(0, limit=3)
    rest = await changes.read(first.through, limit=3)
    assert [c.seq for c in first.changes + rest.changes] == [1, 2, 3, 4, 5]
    assert (await changes.read(rest.through)).changes == ()


async def test_release_activations_are_logged_and_the_latest_is_active(
    store: SQLitePatientStore, changes: ChangeLog
) -> None:
    await changes.append_release("aaaa", "2025-01-16", actor="cli")
    await store.save(sample_record(1))
    latest = await changes.append_release("bbbb", "2026-02-16", actor="admin")

    assert await changes.active_release() == latest
    assert [r.release_key for r in await changes.releases()] == ["bbbb", "aaaa"]
    kinds = [type(c) for c in (await changes.read(0)).changes]
    assert kinds == [ReleaseChange, PatientChange, ReleaseChange]


async def test_pruning_drops_old_patient_changes_only_and_readers_behind_are_told(
    store: SQLitePatientStore, changes: ChangeLog
) -> None:
    await changes.append_release("aaaa", "2025-01-16")
    await store.import_many(sample_record(n) for n in range(3))
    latest = await changes.latest()

    assert await changes.prune() == 0  # nothing is old yet
    later = datetime.now(UTC) + PATIENT_CHANGE_RETENTION + timedelta(seconds=1)
    assert await changes.prune(later) == 3

    assert await changes.latest() == latest  # a seq never goes back
    behind = await changes.read(0)
    assert behind.missed and [type(c) for c in behind.changes] == [ReleaseChange]
    assert not (await changes.read(latest)).missed
    await store.save(sample_record(9))
    assert await changes.latest() == latest + 1
