"""Late filing on a real SQLite file: batches, the mark, concurrent filers, the background task.

Lookups through the filed entries and the tail are tested where they are
made: tests/services/test_history.py (every history test runs with nothing
filed, everything filed and the mark in the middle) and
tests/security/test_audit.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mme_node.services.history import RESULTS_FILING, MatchHistory, RecordedMatch, RecordedResult
from mme_node.stores.database import open_database, transaction
from mme_node.stores.filing import LateFiling, behind, file_batch
from tests.services.stored_history import filed_as_stored

NOW = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "node.sqlite3"


@pytest.fixture
def history(path: Path) -> Iterator[MatchHistory]:
    made = MatchHistory(path)
    yield made
    made.close()


def inbound(number: int, *patients: str) -> RecordedMatch:
    """A peer's query ``Q<number>`` that found clinic-a's ``patients`` and one of clinic-b's."""
    results = tuple(RecordedResult(0.5, patient, "clinic-a") for patient in patients)
    return RecordedMatch(
        "inbound",
        "peer-x",
        NOW,
        query_patient_id=f"Q{number}",
        test=False,
        results=(*results, RecordedResult(0.4, "B1", "clinic-b")),
    )


def record_matches(history: MatchHistory, count: int) -> None:
    asyncio.run(history.record_many([inbound(n, "P1", f"P{n}") for n in range(count)]))


def filed_patients(path: Path) -> list[tuple[str, str, int]]:
    with contextlib.closing(open_database(path)) as db:
        rows = db.execute("SELECT owner, patient_id, request_pk FROM match_results_filed")
        return sorted(rows.fetchall())


def test_a_batch_files_at_most_its_step_sorted_by_patient_and_moves_the_mark(
    history: MatchHistory, path: Path
) -> None:
    record_matches(history, 5)  # match ids 1 to 5
    two_at_a_time = dataclasses.replace(RESULTS_FILING, step=2)
    with contextlib.closing(open_database(path)) as db, transaction(db, "IMMEDIATE"):
        assert behind(db, two_at_a_time) == 5
        assert file_batch(db, two_at_a_time) == 2
        assert behind(db, two_at_a_time) == 3
    assert filed_patients(path) == [
        ("clinic-a", "P0", 1),
        ("clinic-a", "P1", 1),
        ("clinic-a", "P1", 2),  # Q1 found P1 twice: filed under each rank
        ("clinic-a", "P1", 2),
        ("clinic-b", "B1", 1),
        ("clinic-b", "B1", 2),
    ]
    assert filed_as_stored(path)


def test_results_of_another_nodes_patients_are_not_filed(history: MatchHistory, path: Path) -> None:
    theirs = RecordedMatch(
        "outbound",
        "peer-x",
        NOW,
        query_patient_id="P1",
        test=False,
        results=(RecordedResult(0.5, "r1", None, '{"id": "r1"}'),),
        owner="clinic-a",
        patient_id="P1",
    )
    asyncio.run(history.record(theirs))
    filing = LateFiling(path, (RESULTS_FILING,))
    filing.file_all()
    filing.close()
    assert filed_patients(path) == []
    assert filed_as_stored(path)


def test_a_filing_with_nothing_to_file_takes_no_write_lock(
    history: MatchHistory, path: Path
) -> None:
    """A serving node looks every second: an idle one must not hold up another's writes."""
    record_matches(history, 1)
    filing = LateFiling(path, (RESULTS_FILING,))
    filing.file_all()
    try:
        with contextlib.closing(open_database(path)) as writer, transaction(writer, "IMMEDIATE"):
            # Waiting for the lock would end in a 503 after the busy timeout instead.
            assert filing.file_now() is False
    finally:
        filing.close()


def test_filers_in_several_processes_file_each_result_once(
    history: MatchHistory, path: Path
) -> None:
    record_matches(history, 400)
    filers = [LateFiling(path, (RESULTS_FILING,)) for _ in range(3)]
    failures: list[BaseException] = []

    def file_all(filing: LateFiling) -> None:
        try:
            filing.file_all()
        except BaseException as error:  # a result filed twice breaks the primary key
            failures.append(error)

    threads = [threading.Thread(target=file_all, args=(filing,)) for filing in filers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for filing in filers:
        filing.close()
    assert failures == []
    assert len(filed_patients(path)) == 400 * 3
    assert filed_as_stored(path)


def test_a_mark_above_the_top_is_nothing_to_file(history: MatchHistory, path: Path) -> None:
    """A file edited by hand (or a mark restored apart from its rows) must not keep the
    filing taking the write lock for ever."""
    record_matches(history, 2)
    with contextlib.closing(open_database(path)) as db:
        db.execute("UPDATE filing_marks SET upto = 10 WHERE name = 'match_results'")
    filing = LateFiling(path, (RESULTS_FILING,))
    try:
        assert filing.file_now() is False
    finally:
        filing.close()


def test_a_running_filing_files_what_arrives_in_the_background(
    history: MatchHistory, path: Path
) -> None:
    open_database(path).close()  # as a node does before it starts filing

    async def scenario() -> int:
        filing = LateFiling(path, (RESULTS_FILING,), interval=0.01)
        filing.start()
        try:
            await history.record_many([inbound(n, "P1") for n in range(250)])
            for _ in range(3000):  # at most 30 s: far past a few batches of 100 matches
                with contextlib.closing(open_database(path)) as db:
                    waiting = behind(db, RESULTS_FILING)
                if not waiting:
                    break
                await asyncio.sleep(0.01)
            return waiting
        finally:
            await filing.stop()

    assert asyncio.run(scenario()) == 0
    assert len(filed_patients(path)) == 250 * 2
    assert filed_as_stored(path)
