"""The change follower: writes of other processes and release switches reach the serving state."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from matching_samples import MatchingNode, patient_json

from hpo import Release
from mme_node import collector
from mme_node.errors import ServiceUnavailable
from mme_node.matching.follower import ChangeFollower
from mme_node.matching.matcher import Matcher
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.model import PatientRecord
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.services.patients import PatientService
from mme_node.stores.changes import PATIENT_CHANGE_RETENTION, ChangeBatch, ChangeLog
from mme_node.stores.sqlite import SQLitePatientStore
from mme_node.vocabulary.genes import GeneIndex

pytestmark = pytest.mark.anyio

OWNER = "clinic-a"
AUTISM = "HP:0000717"
HEARING_LOSS = "HP:0000407"


def newer(release: Release) -> Release:
    """The same ontology under another key and version: a release switch without compiling."""
    info = dataclasses.replace(release.info, key="0123456789abcdef", version="2099-01-01")
    return Release(info, release.ontology, release.information_content)


@asynccontextmanager
async def follower_node(
    store: SQLitePatientStore,
    release: Release,
    genes: GeneIndex,
    *releases: Release,
    interval: float = 0.02,
) -> AsyncIterator[MatchingNode]:
    """A node on ``store`` whose follower can open ``release`` and ``releases`` by key."""
    by_key = {r.info.key: r for r in (release, *releases)}
    serving = Serving.of(release)
    matcher = Matcher(serving, store, ScoringWeights())
    changes = ChangeLog(store.path)
    follower = ChangeFollower(
        changes,
        matcher,
        by_key.__getitem__,
        pseudonyms=Pseudonyms.in_data_dir(store.path.parent),
        interval=interval,
    )
    patients = PatientService(store=store, serving=serving, genes=genes, listeners=[follower])
    try:
        yield MatchingNode(store=store, patients=patients, matcher=matcher, follower=follower)
    finally:
        await follower.stop()
        changes.close()


@pytest.fixture
async def other_process(node: MatchingNode) -> AsyncIterator[SQLitePatientStore]:
    """The same database file through other connections, as another process would open it."""
    store = SQLitePatientStore(node.store.path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def record_of(node: MatchingNode, patient_id: str, *terms: str) -> PatientRecord:
    return node.patients.record_of(OWNER, node.patients.prepare(patient_json(patient_id, terms)))


async def matched_ids(node: MatchingNode, *terms: str) -> list[str]:
    results = await node.matcher.match(node.query(patient_json("Q", terms)), limit=10)
    return [result.record.patient.id for result in results]


async def test_a_write_of_another_process_is_applied_by_the_next_catch_up(
    node: MatchingNode, other_process: SQLitePatientStore
) -> None:
    await other_process.save(record_of(node, "P1", AUTISM))
    assert await matched_ids(node, AUTISM) == []  # not applied yet

    await node.follower.catch_up()
    assert await matched_ids(node, AUTISM) == ["P1"]

    await other_process.delete(OWNER, "P1")
    await node.follower.catch_up()
    assert await matched_ids(node, AUTISM) == []


async def test_an_import_of_another_process_is_applied_in_chunks(
    node: MatchingNode, other_process: SQLitePatientStore
) -> None:
    records = [record_of(node, f"P{n:04d}", AUTISM) for n in range(2500)]
    await other_process.import_many(records)

    applied = await node.follower.catch_up()

    assert applied == await ChangeLog(node.store.path).latest()
    assert len(node.matcher.index) == 2500


async def test_the_polling_follower_applies_writes_without_being_asked(
    node: MatchingNode, other_process: SQLitePatientStore
) -> None:
    node.follower.interval = 0.02
    await node.follower.start()
    await other_process.save(record_of(node, "P1", AUTISM))
    deadline = time.monotonic() + 60  # liveness only; the bound is measured in bench/
    while await matched_ids(node, AUTISM) != ["P1"]:
        assert time.monotonic() < deadline, "the follower never applied the write"
        await asyncio.sleep(0.01)
    await node.follower.stop()


async def test_a_follower_behind_the_pruned_changes_reloads_from_the_store(
    node: MatchingNode, other_process: SQLitePatientStore
) -> None:
    await other_process.save(record_of(node, "P1", AUTISM))
    await other_process.save(record_of(node, "P2", AUTISM))
    await other_process.delete(OWNER, "P2")
    changes = ChangeLog(node.store.path)
    later = datetime.now(UTC) + PATIENT_CHANGE_RETENTION + timedelta(seconds=1)
    assert await changes.prune(later) == 3
    batch = await changes.read(node.follower.applied)
    assert batch.missed and batch.changes == ()

    await node.follower.catch_up()

    assert await matched_ids(node, AUTISM) == ["P1"]
    assert node.follower.applied == await changes.latest()
    changes.close()


def change_rows(path: Path) -> list[tuple[object, ...]]:
    """Every row of the change table, as the database file holds it."""
    with closing(sqlite3.connect(path)) as database:
        return database.execute("SELECT * FROM changes").fetchall()


async def erase_in_other_process(
    other: SQLitePatientStore, pid: str, stored_again: PatientRecord | None = None
) -> int:
    """What the erasure service of another process does to the store and the change log.

    ``stored_again`` is saved between the deletion and the erasure of the changes (a
    submitter storing the id again meanwhile). Returns how many changes were erased.
    """
    await other.delete(OWNER, pid)
    if stored_again is not None:
        await other.save(stored_again)
    subject = Pseudonyms.in_data_dir(other.path.parent).subject(OWNER, pid)
    changes = ChangeLog(other.path)
    try:
        return await changes.forget_patient(OWNER, pid, subject)
    finally:
        changes.close()


async def test_an_erasure_elsewhere_removes_one_patient_without_a_rebuild(
    node: MatchingNode, other_process: SQLitePatientStore
) -> None:
    await node.patients.submit(OWNER, patient_json("P1", [AUTISM]))
    await node.patients.submit(OWNER, patient_json("P2", [AUTISM]))
    await node.patients.submit("clinic-b", patient_json("P1", [AUTISM]))  # same id, other owner
    assert len(await matched_ids(node, AUTISM)) == 3

    assert await erase_in_other_process(other_process, "P1") == 2  # creation, deletion
    await node.follower.catch_up()

    remaining = await node.matcher.match(node.query(patient_json("Q", [AUTISM])), limit=10)
    assert sorted(r.record.key for r in remaining) == [("clinic-a", "P2"), ("clinic-b", "P1")]
    assert node.follower.reloads == 0
    rows = change_rows(node.store.path)
    assert not [row for row in rows if "P1" in row and "clinic-a" in row]
    assert [row[2] for row in rows].count("erasure") == 1


async def test_a_patient_stored_again_during_its_erasure_stays_matched_as_stored(
    node: MatchingNode, other_process: SQLitePatientStore
) -> None:
    await node.patients.submit(OWNER, patient_json("P1", [AUTISM]))
    again = record_of(node, "P1", HEARING_LOSS)
    assert await erase_in_other_process(other_process, "P1", stored_again=again) == 3

    await node.follower.catch_up()

    [result] = await node.matcher.match(node.query(patient_json("Q", [HEARING_LOSS])), limit=10)
    assert [term.id for term in result.record.patient.features] == [HEARING_LOSS]  # as stored now
    assert node.follower.reloads == 0


async def test_a_release_activation_swaps_in_a_state_of_the_new_release(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex
) -> None:
    store = SQLitePatientStore(tmp_path / "mme-node.sqlite3")
    await store.open()
    upgrade = newer(bundled_release)
    async with follower_node(store, bundled_release, gene_index, upgrade) as node:
        await node.follower.start()
        await node.patients.submit(OWNER, patient_json("P1", [AUTISM]))
        before = node.matcher.serving.state

        await ChangeLog(store.path).append_release(upgrade.info.key, upgrade.version)
        await node.follower.catch_up()
        await node.follower.switched()

        now = node.matcher.serving.state
        assert now is not before and now.release is upgrade
        assert len(now.index) == 1
        # a match that took the old state before the switch still ranks on it
        query = node.query(patient_json("Q", [AUTISM]))
        assert [c.key for c in node.matcher.rank(query, 5, state=before)] == [(OWNER, "P1")]
    await store.close()


async def test_a_release_switch_thaws_what_start_up_froze_and_the_follower_refreezes_it(
    tmp_path: Path,
    bundled_release: Release,
    gene_index: GeneIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The old state leaves the frozen heap, so that its cycles can be collected."""
    monkeypatch.setattr(collector, "REFREEZE_AFTER", 1.0)
    store = SQLitePatientStore(tmp_path / "mme-node.sqlite3")
    await store.open()
    upgrade = newer(bundled_release)
    async with follower_node(store, bundled_release, gene_index, upgrade) as node:
        await node.follower.start()
        collector.freeze_start_up()
        try:
            await ChangeLog(store.path).append_release(upgrade.info.key, upgrade.version)
            await node.follower.catch_up()
            await node.follower.switched()
            assert gc.get_freeze_count() == 0  # thawed by the switch
            deadline = time.monotonic() + 10
            while gc.get_freeze_count() == 0:  # until a poll REFREEZE_AFTER later
                assert time.monotonic() < deadline, "not frozen again after the switch"
                await asyncio.sleep(0.02)
        finally:
            collector.stop_freezing()
    await store.close()


class PausingStore(SQLitePatientStore):
    """A real SQLite store whose full scan stops after its first record until released."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, read_chunk=1)
        self.pause = False
        self.first_read = asyncio.Event()
        self.resume = asyncio.Event()

    async def iter_records(self) -> AsyncIterator[PatientRecord]:
        async for record in super().iter_records():
            yield record
            if self.pause and not self.first_read.is_set():
                self.first_read.set()
                await self.resume.wait()


async def test_writes_acknowledged_while_a_switch_builds_its_state_are_kept(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex
) -> None:
    store = PausingStore(tmp_path / "mme-node.sqlite3")
    await store.open()
    upgrade = newer(bundled_release)
    async with follower_node(store, bundled_release, gene_index, upgrade) as node:
        await node.follower.start()
        for patient_id in ("P1", "P2", "P3"):
            await node.patients.submit(OWNER, patient_json(patient_id, [HEARING_LOSS]))
        store.pause = True
        await ChangeLog(store.path).append_release(upgrade.info.key, upgrade.version)
        await node.follower.catch_up()
        await store.first_read.wait()  # P1 is in the new state, the scan is paused
        await node.patients.delete(OWNER, "P1")
        await node.patients.submit(OWNER, patient_json("P2", [AUTISM]))
        await node.patients.submit(OWNER, patient_json("P4", [AUTISM]))
        assert node.matcher.release is bundled_release  # the old state serves meanwhile
        served = await matched_ids(node, AUTISM)
        assert sorted(served[:2]) == ["P2", "P4"] and "P1" not in served
        store.resume.set()
        await node.follower.switched()

        assert node.matcher.release is upgrade
        ranked = {
            c.key[1]: c.score
            for c in node.matcher.rank(node.query(patient_json("Q", [HEARING_LOSS])), limit=10)
        }
        assert set(ranked) == {"P2", "P3", "P4"}
        assert ranked["P3"] == pytest.approx(1.0) and ranked["P2"] < 1.0
    await store.close()


async def test_two_processes_each_apply_the_writes_of_the_other(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex
) -> None:
    first_store, second_store = (SQLitePatientStore(tmp_path / "mme-node.sqlite3") for _ in "12")
    await first_store.open()
    await second_store.open()
    hour = 3600.0  # no poll during the test: each applies the other's writes when told to
    async with (
        follower_node(first_store, bundled_release, gene_index, interval=hour) as first,
        follower_node(second_store, bundled_release, gene_index, interval=hour) as second,
    ):
        await first.follower.start()
        await second.follower.start()
        await first.patients.submit(OWNER, patient_json("P1", [AUTISM]))
        await second.patients.submit(OWNER, patient_json("P2", [AUTISM]))
        assert await matched_ids(first, AUTISM) == ["P1"]  # its own write, at once
        assert first.follower.applied < second.follower.applied  # each keeps its own position

        await first.follower.catch_up()
        await second.follower.catch_up()

        assert sorted(await matched_ids(first, AUTISM)) == ["P1", "P2"]
        assert sorted(await matched_ids(second, AUTISM)) == ["P1", "P2"]
    await first_store.close()
    await second_store.close()


class UnreadableLog(ChangeLog):
    """A change log whose database fails on every read (a disk gone read-only, say)."""

    async def read(self, after: int, limit: int = 1000) -> ChangeBatch:
        raise ServiceUnavailable("change log failed: disk I/O error")


async def test_a_write_stays_acknowledged_when_the_log_cannot_be_read_right_after(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex
) -> None:
    store = SQLitePatientStore(tmp_path / "mme-node.sqlite3")
    await store.open()
    async with follower_node(store, bundled_release, gene_index) as node:
        node.follower.changes = UnreadableLog(store.path)

        stored, created = await node.patients.submit(OWNER, patient_json("P1", [AUTISM]))

        assert created and (await store.get(OWNER, "P1")).version == stored.version
        node.follower.changes.close()
    await store.close()
