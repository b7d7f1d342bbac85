"""Retention: matches older than the period are erased with their results; the audit stays."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest

from mme_node.security.audit import AuditEntry, AuditEvent, AuditLog
from mme_node.security.keys import NodeKey
from mme_node.services.history import RESULTS_FILING, MatchHistory, RecordedMatch, RecordedResult
from mme_node.services.retention import Retention
from mme_node.stores.filing import LateFiling
from tests.services.stored_history import filed_as_stored, stored_matches

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path / "node.sqlite3", NodeKey.in_data_dir(tmp_path))
    yield log
    log.close()


@pytest.fixture
def history(tmp_path: Path, audit: AuditLog) -> Iterator[MatchHistory]:
    match_history = MatchHistory(tmp_path / "node.sqlite3", audit)
    yield match_history
    match_history.close()


def inbound(days_ago: int, query: str) -> RecordedMatch:
    return RecordedMatch(
        direction="inbound",
        peer="node-b",
        created=NOW - datetime.timedelta(days=days_ago),
        query_patient_id=query,
        test=False,
        results=(RecordedResult(0.5, "P1", "clinic-a", shown_as="x", disclosure="genes"),),
    )


def shown(query: str) -> AuditEntry:
    return AuditEntry(AuditEvent.DISCLOSURE, NOW, recipient="node-b", subject="s", test=False)


def test_matches_older_than_the_period_go_and_newer_ones_stay(
    history: MatchHistory, audit: AuditLog, tmp_path: Path
) -> None:
    for days_ago, query in ((800, "old"), (731, "older than two years"), (10, "recent")):
        asyncio.run(history.record(inbound(days_ago, query), audit=[shown(query)]))

    purged = asyncio.run(Retention(history, days=730).purge(now=NOW))

    assert purged == 2
    assert stored_matches(tmp_path / "node.sqlite3") == [("recent", ["P1"])]
    entries = list(audit.iter_entries())
    assert [e.document["event"] for e in entries] == ["disclosure"] * 3 + ["retention"]
    assert entries[-1].document["details"]["matches_erased"] == 2
    assert audit.verify_now().ok


def test_purged_results_leave_no_filed_entry_behind(history: MatchHistory, tmp_path: Path) -> None:
    """A filed entry names the patient and its match: it goes with the result."""
    for days_ago, query in ((800, "old"), (10, "recent")):
        asyncio.run(history.record(inbound(days_ago, query)))
    filing = LateFiling(tmp_path / "node.sqlite3", (RESULTS_FILING,))
    filing.file_all()
    filing.close()

    asyncio.run(Retention(history, days=730).purge(now=NOW))

    assert stored_matches(tmp_path / "node.sqlite3") == [("recent", ["P1"])]
    assert filed_as_stored(tmp_path / "node.sqlite3")


def test_a_result_of_a_purged_match_is_new_again(history: MatchHistory) -> None:
    asyncio.run(history.record(inbound(800, "Q")))
    asyncio.run(Retention(history, days=730).purge(now=NOW))

    again = asyncio.run(history.record(inbound(0, "Q")))

    assert again.results[0].new


def test_zero_days_keeps_the_history_for_ever(history: MatchHistory, tmp_path: Path) -> None:
    asyncio.run(history.record(inbound(5000, "ancient")))

    assert asyncio.run(Retention(history, days=0).purge(now=NOW)) == 0
    assert stored_matches(tmp_path / "node.sqlite3") == [("ancient", ["P1"])]


def test_a_purge_that_erases_nothing_writes_no_audit_entry(
    history: MatchHistory, audit: AuditLog
) -> None:
    asyncio.run(history.record(inbound(1, "recent")))

    assert asyncio.run(Retention(history, days=730).purge(now=NOW)) == 0
    assert list(audit.iter_entries()) == []
