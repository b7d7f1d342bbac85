"""MatchHistory on a real SQLite file: what is recorded, the ``new`` rule, erasure, counts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mme_node.errors import ServiceUnavailable
from mme_node.security.audit import AuditEntry, AuditEvent, AuditLog
from mme_node.security.keys import NodeKey
from mme_node.services import history as history_module
from mme_node.services.history import (
    HISTORY_PAGE_SIZE,
    RESULTS_FILING,
    Direction,
    HistoryPage,
    MatchHistory,
    RecordedMatch,
    RecordedResult,
)
from mme_node.stores import database
from mme_node.stores.database import MIGRATIONS, open_database
from mme_node.stores.filing import LateFiling
from tests.services.stored_history import filed_as_stored, stored_matches, stored_result_count

NOW = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)


class Filed(MatchHistory):
    """A history whose results are filed by patient as if the late filing task
    (:mod:`mme_node.stores.filing`) had just run: after each match is recorded, or
    before (so that the newest match is always in the tail, the older ones filed)."""

    def __init__(self, path: Path, newest_in_the_tail: bool) -> None:
        super().__init__(path)
        self.filing = LateFiling(path, (RESULTS_FILING,))
        self.newest_in_the_tail = newest_in_the_tail

    async def record_many(
        self, matches: Sequence[RecordedMatch], audit: Sequence[AuditEntry] = ()
    ) -> list[RecordedMatch]:
        if self.newest_in_the_tail:
            self.filing.file_all()
        recorded = await super().record_many(matches, audit)
        if not self.newest_in_the_tail:
            self.filing.file_all()
        return recorded

    def close(self) -> None:
        self.filing.close()
        super().close()


@pytest.fixture(params=["tail", "filed", "both"])
def history(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MatchHistory]:
    """Every lookup by patient three ways: all results in the tail (no server has filed
    them), all filed, and all but the newest match's filed (the mark in the middle)."""
    path = tmp_path / "node.sqlite3"
    match_history = (
        MatchHistory(path)
        if request.param == "tail"
        else Filed(path, newest_in_the_tail=request.param == "both")
    )
    yield match_history
    match_history.close()
    assert filed_as_stored(path)


def ours(*patient_ids: str, owner: str = "clinic-a") -> tuple[RecordedResult, ...]:
    """Results that are this node's patients (they have an owner)."""
    return tuple(RecordedResult(0.5, patient_id, owner) for patient_id in patient_ids)


def theirs(*patient_ids: str) -> tuple[RecordedResult, ...]:
    """Results that are another node's patients (no owner, the JSON as received)."""
    return tuple(
        RecordedResult(0.5, patient_id, None, f'{{"id": "{patient_id}"}}')
        for patient_id in patient_ids
    )


def asked_about(
    direction: Direction,
    patient_id: str,
    results: tuple[RecordedResult, ...],
    *,
    peer: str = "peer-x",
    owner: str = "clinic-a",
    test: bool = False,
) -> RecordedMatch:
    """A match whose query is ``patient_id``: a peer's patient if inbound, else ours."""
    if direction == "inbound":
        return RecordedMatch(
            direction, peer, NOW, query_patient_id=patient_id, test=test, results=results
        )
    return RecordedMatch(
        direction,
        "local" if direction == "local" else peer,
        NOW,
        query_patient_id=patient_id,
        test=test,
        results=results,
        owner=owner,
        patient_id=patient_id,
    )


def record(history: MatchHistory, match: RecordedMatch) -> RecordedMatch:
    return asyncio.run(history.record(match))


def page(
    history: MatchHistory,
    patient_id: str,
    before: int | None = None,
    limit: int = HISTORY_PAGE_SIZE,
    owner: str = "clinic-a",
) -> HistoryPage:
    return asyncio.run(history.history_page(owner, patient_id, before, limit))


def newest_first(
    history: MatchHistory, patient_id: str, owner: str = "clinic-a"
) -> list[RecordedMatch]:
    """The patient's whole history as ``owner`` sees it, in one page."""
    found = page(history, patient_id, owner=owner)
    assert found.next_before is None
    return list(found.matches)


def new_flags(match: RecordedMatch) -> dict[str, bool]:
    return {result.patient_id: result.new for result in match.results}


def test_record_returns_the_match_with_an_id_and_every_result_new_the_first_time(
    history: MatchHistory,
) -> None:
    recorded = record(history, asked_about("outbound", "P1", theirs("r1", "r2")))
    assert recorded.id is not None
    assert new_flags(recorded) == {"r1": True, "r2": True}


def test_a_flagged_result_keeps_every_other_field() -> None:
    fields = dataclasses.fields(RecordedResult)
    result = RecordedResult(**{field.name: f"{field.name}-value" for field in fields})

    for new in (True, False):
        assert result.flagged(new) == dataclasses.replace(result, new=new)


def test_record_marks_results_an_earlier_match_of_the_same_patient_returned_not_new(
    history: MatchHistory,
) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1", "r2")))
    again = record(history, asked_about("outbound", "P1", theirs("r2", "r3", "r1")))
    assert new_flags(again) == {"r2": False, "r3": True, "r1": False}


def test_the_same_remote_patient_is_new_from_another_peer(history: MatchHistory) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1"), peer="peer-x"))
    other_peer = record(history, asked_about("outbound", "P1", theirs("r1"), peer="peer-y"))
    assert new_flags(other_peer) == {"r1": True}


def test_a_result_is_new_for_another_query_patient(history: MatchHistory) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1")))
    assert new_flags(record(history, asked_about("outbound", "P2", theirs("r1")))) == {"r1": True}


def test_a_result_is_new_for_another_owners_patient_with_the_same_id(
    history: MatchHistory,
) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1"), owner="clinic-a"))
    other_owner = record(history, asked_about("outbound", "P1", theirs("r1"), owner="clinic-b"))
    assert new_flags(other_owner) == {"r1": True}


def test_inbound_results_are_new_per_peer_and_query_patient(history: MatchHistory) -> None:
    record(history, asked_about("inbound", "Q1", ours("P1"), peer="peer-x"))
    assert new_flags(record(history, asked_about("inbound", "Q1", ours("P1"), peer="peer-x"))) == {
        "P1": False
    }
    assert new_flags(record(history, asked_about("inbound", "Q2", ours("P1"), peer="peer-x"))) == {
        "P1": True
    }
    assert new_flags(record(history, asked_about("inbound", "Q1", ours("P1"), peer="peer-y"))) == {
        "P1": True
    }


def test_another_owners_patient_with_the_same_id_is_a_new_result(history: MatchHistory) -> None:
    # clinic-b's P1 is another patient than clinic-a's P1: its contact must hear about it.
    record(history, asked_about("inbound", "Q1", ours("P1", owner="clinic-a")))
    again = record(history, asked_about("inbound", "Q1", ours("P1", owner="clinic-b")))
    assert new_flags(again) == {"P1": True}


def test_a_remote_result_is_not_new_again_after_one_of_ours_with_its_id(
    history: MatchHistory,
) -> None:
    # A result without an owner (another node's patient) is not one of ours with that id.
    record(history, asked_about("outbound", "P1", ours("r1", owner="clinic-a")))
    assert new_flags(record(history, asked_about("outbound", "P1", theirs("r1")))) == {"r1": True}
    assert new_flags(record(history, asked_about("outbound", "P1", theirs("r1")))) == {"r1": False}


def test_local_matches_do_not_make_a_peer_named_local_return_old_results(
    history: MatchHistory,
) -> None:
    record(history, asked_about("local", "P1", ours("P2")))
    outbound = asked_about("outbound", "P1", ours("P2"), peer="local")
    assert new_flags(record(history, outbound)) == {"P2": True}


def test_record_keeps_the_peers_error_kind_message_and_status(history: MatchHistory) -> None:
    failed = RecordedMatch(
        "outbound",
        "peer-x",
        NOW,
        query_patient_id="P1",
        test=False,
        owner="clinic-a",
        patient_id="P1",
        status=500,
        error_kind="http-status",
        error_message="HTTP 500 Internal Server Error",
    )
    record(history, failed)
    (stored,) = newest_first(history, "P1")
    assert (stored.status, stored.error_kind, stored.error_message, stored.results) == (
        500,
        "http-status",
        "HTTP 500 Internal Server Error",
        (),
    )


def test_history_page_lists_matches_as_query_and_as_result_newest_first(
    history: MatchHistory,
) -> None:
    record(history, asked_about("local", "P1", ours("P2")))
    record(history, asked_about("inbound", "Q1", ours("P2", "P1")))
    record(history, asked_about("outbound", "P1", theirs("r1")))
    record(history, asked_about("outbound", "P3", theirs("r1")))
    matches = newest_first(history, "P1")
    assert [(m.direction, m.query_patient_id) for m in matches] == [
        ("outbound", "P1"),
        ("inbound", "Q1"),
        ("local", "P1"),
    ]
    assert matches[0].created == NOW


def test_history_page_keeps_the_stored_result_fields(history: MatchHistory) -> None:
    recorded = record(history, asked_about("outbound", "P1", theirs("r1")))
    (match,) = newest_first(history, "P1")
    assert match.id == recorded.id
    assert match.results == (RecordedResult(0.5, "r1", None, '{"id": "r1"}', True),)


def test_history_page_marks_results_new_as_record_did(history: MatchHistory) -> None:
    answers = [
        record(history, asked_about("outbound", "P1", theirs("r1"))),
        record(history, asked_about("outbound", "P1", theirs("r1", "r2"))),
        record(history, asked_about("inbound", "Q1", ours("P1"))),
        record(history, asked_about("inbound", "Q2", ours("P1"))),
        record(history, asked_about("inbound", "Q2", ours("P1"))),
        record(history, asked_about("local", "P1", ours("P2"))),
        record(history, asked_about("local", "P3", ours("P1", "P2"))),
    ]
    assert [new_flags(m) for m in newest_first(history, "P1")] == [
        new_flags(m) for m in reversed(answers)
    ]


def test_history_page_of_a_patient_never_matched_is_empty(history: MatchHistory) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1")))
    assert page(history, "P9") == HistoryPage((), None)


def test_forget_patient_erases_its_own_matches(history: MatchHistory, tmp_path: Path) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1")))
    record(history, asked_about("local", "P1", ours("P2")))
    erased = asyncio.run(history.forget_patient("clinic-a", "P1"))
    assert erased == 6  # its two matches, their two results, their two threads
    assert stored_matches(tmp_path / "node.sqlite3") == []
    assert stored_result_count(tmp_path / "node.sqlite3") == 0


def test_forget_patient_removes_it_from_other_matches_results_only(
    history: MatchHistory, tmp_path: Path
) -> None:
    record(history, asked_about("local", "P2", ours("P1", "P3")))
    record(history, asked_about("inbound", "Q1", ours("P3", "P1")))
    assert asyncio.run(history.forget_patient("clinic-a", "P1")) == 2
    assert stored_matches(tmp_path / "node.sqlite3") == [("P2", ["P3"]), ("Q1", ["P3"])]


def test_mentions_finds_the_patient_as_a_query_or_as_a_result_until_it_is_erased(
    history: MatchHistory,
) -> None:
    """An erasure that failed half-way is finished when the history still mentions the
    patient (ErasureService): as a result alone, too."""
    record(history, asked_about("outbound", "P1", theirs("r1")))
    record(history, asked_about("inbound", "Q1", ours("P2", "P3")))
    record(history, asked_about("local", "P4", ours("P5")))

    def mentioned(patient_id: str) -> bool:
        return asyncio.run(history.mentions("clinic-a", patient_id))

    assert [mentioned(p) for p in ("P1", "P2", "P3", "P4", "P5", "P9")] == [True] * 5 + [False]
    assert not asyncio.run(history.mentions("clinic-b", "P2"))
    for patient_id in ("P1", "P3", "P5"):
        asyncio.run(history.forget_patient("clinic-a", patient_id))
    assert [mentioned(p) for p in ("P1", "P2", "P3", "P4", "P5")] == [
        False,
        True,
        False,
        True,
        False,
    ]


def test_forget_patient_leaves_another_owners_patient_with_the_same_id(
    history: MatchHistory,
) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1"), owner="clinic-b"))
    record(history, asked_about("inbound", "Q1", ours("P1", owner="clinic-b")))
    asyncio.run(history.forget_patient("clinic-a", "P1"))
    assert len(newest_first(history, "P1", owner="clinic-b")) == 2


def test_an_erased_match_id_is_never_given_again(history: MatchHistory) -> None:
    """A stale page's "mark as seen" or cursor must never name a match recorded since."""
    kept = record(history, asked_about("outbound", "P1", theirs("r1")))
    newest = record(history, asked_about("outbound", "P2", theirs("r1")))
    asyncio.run(history.forget_patient("clinic-a", "P2"))  # the newest match goes
    after = record(history, asked_about("outbound", "P3", theirs("r1")))
    assert kept.id is not None and newest.id is not None and after.id is not None
    assert kept.id < newest.id < after.id
    # What was on the erased match's page is gone: marking it seen marks nothing.
    assert asyncio.run(history.mark_seen("clinic-a", newest.id)) == 0
    assert [match.id for match in unseen(history)] == [after.id, kept.id]


def test_the_database_refuses_a_match_id_given_before(tmp_path: Path) -> None:
    history = MatchHistory(tmp_path / "node.sqlite3")
    first = record(history, asked_about("outbound", "P1", theirs("r1")))
    asyncio.run(history.forget_patient("clinic-a", "P1"))
    history.close()
    with contextlib.closing(open_database(tmp_path / "node.sqlite3")) as db:
        for taken in (first.id, None):  # its id again; SQLite's own choice (max + 1 = 1)
            with pytest.raises(sqlite3.IntegrityError, match="a match id is given once"):
                db.execute(
                    "INSERT INTO match_requests (pk, direction, peer, created,"
                    " query_patient_id, test) VALUES (?, 'inbound', 'p', 'now', 'Q', 0)",
                    (taken,),
                )


def test_counts_only_real_inbound_requests_and_the_results_sent(history: MatchHistory) -> None:
    record(history, asked_about("inbound", "Q1", ours("P1", "P2")))
    record(history, asked_about("inbound", "Q2", ours("P1")))
    record(history, asked_about("inbound", "Q3", ours("T1"), test=True))
    record(history, asked_about("outbound", "P1", theirs("r1")))
    record(history, asked_about("local", "P1", ours("P2")))
    counts = asyncio.run(history.counts())
    assert (counts.requests_received, counts.matches_sent) == (2, 3)


def test_history_is_kept_across_reopening_the_file(tmp_path: Path) -> None:
    first = MatchHistory(tmp_path / "node.sqlite3")
    record(first, asked_about("outbound", "P1", theirs("r1")))
    first.close()
    reopened = MatchHistory(tmp_path / "node.sqlite3")
    try:
        assert new_flags(record(reopened, asked_about("outbound", "P1", theirs("r1")))) == {
            "r1": False
        }
    finally:
        reopened.close()


def test_a_match_the_database_refuses_leaves_nothing_behind(
    history: MatchHistory, tmp_path: Path
) -> None:
    bad_score = (RecordedResult(0.5, "r1"), RecordedResult(1.5, "r2"))
    with pytest.raises(sqlite3.IntegrityError):
        record(history, asked_about("outbound", "P1", bad_score))
    assert stored_matches(tmp_path / "node.sqlite3") == []
    assert stored_result_count(tmp_path / "node.sqlite3") == 0


def unseen(history: MatchHistory, owner: str = "clinic-a") -> list[RecordedMatch]:
    return asyncio.run(history.unseen(owner))


def unseen_ids(history: MatchHistory, owner: str = "clinic-a") -> list[list[str]]:
    """Each unseen match's results, newest match first."""
    return [[r.patient_id for r in m.results] for m in unseen(history, owner)]


def test_unseen_lists_new_results_in_and_out_newest_first(history: MatchHistory) -> None:
    record(history, asked_about("inbound", "Q1", ours("P1", "P2")))
    record(history, asked_about("outbound", "P1", theirs("r1", "r2")))
    matches = unseen(history)
    assert [(m.direction, m.query_patient_id) for m in matches] == [
        ("outbound", "P1"),
        ("inbound", "Q1"),
    ]
    assert unseen_ids(history) == [["r1", "r2"], ["P1", "P2"]]
    assert all(r.new for m in matches for r in m.results)


def test_unseen_leaves_out_results_that_are_not_new(history: MatchHistory) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1")))
    asyncio.run(history.mark_seen("clinic-a"))
    record(history, asked_about("outbound", "P1", theirs("r1", "r2")))
    assert unseen_ids(history) == [["r2"]]


def test_unseen_leaves_out_local_matches(history: MatchHistory) -> None:
    record(history, asked_about("local", "P1", ours("P2")))
    assert unseen(history) == []


def test_unseen_shows_each_owner_only_its_own_patients(history: MatchHistory) -> None:
    both = ours("P1") + ours("P7", owner="clinic-b")
    record(history, asked_about("inbound", "Q1", both))
    record(history, asked_about("outbound", "P8", theirs("r1"), owner="clinic-b"))
    assert unseen_ids(history, "clinic-a") == [["P1"]]
    assert unseen_ids(history, "clinic-b") == [["r1"], ["P7"]]


@pytest.mark.parametrize("query", ["_UNSEEN_COUNTS", "_UNSEEN_NEW_RESULTS", "_MARK_SEEN"])
def test_the_inbox_reads_unseen_results_through_their_indexes_not_the_whole_history(
    tmp_path: Path, query: str
) -> None:
    parameters = {"owner": "a", "match": None, "now": "2026-12-01T00:00:00+00:00"}
    with contextlib.closing(open_database(tmp_path / "node.sqlite3")) as db:
        plan = " | ".join(
            row[3]
            for row in db.execute(
                f"EXPLAIN QUERY PLAN {getattr(history_module, query)}", parameters
            )
        )
    assert "match_results_unseen_by_owner" in plan
    assert "match_results_unseen_by_request" in plan
    assert "SCAN r" not in plan


def test_mark_seen_of_one_match_leaves_the_others(history: MatchHistory) -> None:
    first = record(history, asked_about("outbound", "P1", theirs("r1")))
    record(history, asked_about("outbound", "P2", theirs("r2")))
    assert asyncio.run(history.mark_seen("clinic-a", first.id)) == 1
    assert unseen_ids(history) == [["r2"]]


def test_mark_seen_marks_only_the_results_in_the_inbox(history: MatchHistory) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1")))
    assert asyncio.run(history.mark_seen("clinic-a")) == 1
    again = record(history, asked_about("outbound", "P1", theirs("r1", "r2")))
    assert unseen_ids(history) == [["r2"]]
    assert asyncio.run(history.mark_seen("clinic-a", again.id)) == 1  # r2; r1 is not new
    assert unseen(history) == []


def test_mark_seen_never_touches_another_owners_results(history: MatchHistory) -> None:
    shared = record(history, asked_about("inbound", "Q1", ours("P1") + ours("P7", owner="b")))
    assert asyncio.run(history.mark_seen("clinic-a", shared.id)) == 1
    assert unseen_ids(history, "clinic-a") == []
    assert unseen_ids(history, "b") == [["P7"]]


def test_mark_seen_of_someone_elses_match_marks_nothing(history: MatchHistory) -> None:
    theirs_match = record(history, asked_about("outbound", "P8", theirs("r1"), owner="clinic-b"))
    assert asyncio.run(history.mark_seen("clinic-a", theirs_match.id)) == 0
    assert unseen_ids(history, "clinic-b") == [["r1"]]


def test_unseen_counts_are_per_patient_of_the_owner(history: MatchHistory) -> None:
    record(history, asked_about("inbound", "Q1", ours("P1", "P2")))
    record(history, asked_about("inbound", "Q2", ours("P1")))
    record(history, asked_about("outbound", "P2", theirs("r1", "r2")))
    record(history, asked_about("outbound", "P3", theirs("r1"), owner="clinic-b"))
    assert asyncio.run(history.unseen_counts("clinic-a")) == {"P1": 2, "P2": 3}


def test_unseen_stops_at_the_limit_of_matches(history: MatchHistory) -> None:
    for query in ("Q1", "Q2", "Q3"):
        record(history, asked_about("inbound", query, ours("P1", "P2")))
    matches = asyncio.run(history.unseen("clinic-a", limit=2))
    assert [(m.query_patient_id, len(m.results)) for m in matches] == [("Q3", 2), ("Q2", 2)]


def test_concurrent_records_are_each_answered_with_their_own_flags(
    history: MatchHistory,
) -> None:
    async def many() -> list[RecordedMatch]:
        return await asyncio.gather(
            *(history.record(asked_about("inbound", f"Q{n % 5}", ours("P1"))) for n in range(40))
        )

    recorded = asyncio.run(many())
    assert len({match.id for match in recorded}) == 40
    assert sum(match.results[0].new for match in recorded) == 5  # once per query patient


def test_a_refused_match_in_a_group_commit_leaves_the_others_stored(
    history: MatchHistory, tmp_path: Path
) -> None:
    bad = asked_about("outbound", "P1", (RecordedResult(1.5, "r1"),))

    async def together() -> list[RecordedMatch | BaseException]:
        return await asyncio.gather(
            *(history.record(asked_about("outbound", f"P{n}", theirs("r1"))) for n in range(2, 8)),
            history.record(bad),
            return_exceptions=True,
        )

    outcomes = asyncio.run(together())
    assert isinstance(outcomes[-1], sqlite3.IntegrityError)
    stored = stored_matches(tmp_path / "node.sqlite3")
    assert sorted(stored) == [(f"P{n}", ["r1"]) for n in range(2, 8)]


@pytest.mark.parametrize("opened", [True, False], ids=["while-writing", "while-opening"])
def test_every_caller_of_a_group_commit_on_a_locked_database_is_told_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: bool
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 100)  # give up on the lock quickly
    history = MatchHistory(tmp_path / "node.sqlite3")  # nothing filed: no other writer
    if opened:  # else the history's first use opens (and migrates) the file under the lock
        record(history, asked_about("outbound", "P0", theirs("r0")))

    async def together() -> list[RecordedMatch | BaseException]:
        return await asyncio.gather(
            *(history.record(asked_about("outbound", f"P{n}", theirs("r1"))) for n in range(8)),
            return_exceptions=True,
        )

    other = sqlite3.connect(tmp_path / "node.sqlite3", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        outcomes = asyncio.run(together())
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert all(isinstance(outcome, ServiceUnavailable) for outcome in outcomes), outcomes
    assert all("match history failed: database is locked" in str(o) for o in outcomes)
    assert record(history, asked_about("outbound", "P1", theirs("r1"))).id is not None
    history.close()
    earlier = [("P0", ["r0"])] if opened else []
    assert stored_matches(tmp_path / "node.sqlite3") == [*earlier, ("P1", ["r1"])]


def test_record_many_stores_every_match_or_none(history: MatchHistory) -> None:
    matches = [asked_about("outbound", "P1", theirs("r1"), peer=p) for p in ("x", "y")]
    recorded = asyncio.run(history.record_many(matches))
    assert [new_flags(m) for m in recorded] == [{"r1": True}, {"r1": True}]
    bad = asked_about("outbound", "P1", (RecordedResult(1.5, "r2"),), peer="z")
    with pytest.raises(sqlite3.IntegrityError):
        asyncio.run(history.record_many([asked_about("outbound", "P1", theirs("r3")), bad]))
    assert len(newest_first(history, "P1")) == 2


def test_a_patient_returned_twice_in_one_answer_is_new_both_times(history: MatchHistory) -> None:
    recorded = record(history, asked_about("outbound", "P1", theirs("r1", "r1")))
    assert [result.new for result in recorded.results] == [True, True]


def test_a_patient_returned_twice_after_an_earlier_answer_is_old_both_times(
    history: MatchHistory,
) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1")))
    recorded = record(history, asked_about("outbound", "P1", theirs("r1", "r2", "r1")))
    assert [result.new for result in recorded.results] == [False, True, False]


@pytest.mark.parametrize(
    "patient_id",
    ["Zoë-患者", "00123", "1.50", "null", 'a "quoted" \\ id', "P1\u2028x", "a\x00b", "\x00x"],
)
def test_a_result_is_known_again_whatever_its_id_holds(
    history: MatchHistory, patient_id: str
) -> None:
    # The earlier results are looked up in one statement, the ids passed as JSON.
    remote = RecordedResult(0.5, patient_id, None, json.dumps({"id": patient_id}))
    record(history, asked_about("outbound", "P1", (remote,)))
    record(history, asked_about("inbound", "Q1", ours(patient_id)))
    again = record(history, asked_about("outbound", "P1", (remote, *theirs("r2"))))
    assert [result.new for result in again.results] == [False, True]
    assert new_flags(record(history, asked_about("inbound", "Q1", ours(patient_id)))) == {
        patient_id: False
    }
    assert new_flags(record(history, asked_about("inbound", "Q1", theirs(patient_id)))) == {
        patient_id: True
    }


def test_an_id_with_a_nul_is_not_taken_for_the_id_before_it(history: MatchHistory) -> None:
    record(history, asked_about("outbound", "P1", theirs("a")))
    assert new_flags(record(history, asked_about("outbound", "P1", theirs("a\x00x")))) == {
        "a\x00x": True
    }


def test_the_novelty_check_looks_each_result_up_in_its_thread_index(tmp_path: Path) -> None:
    with contextlib.closing(open_database(tmp_path / "node.sqlite3")) as db:
        plan = " | ".join(
            row[3]
            for row in db.execute(
                f"EXPLAIN QUERY PLAN {history_module._RETURNED_BEFORE}",
                {"thread": 1, "results": "[]"},
            )
        )
    assert "SEARCH match_results USING COVERING INDEX match_results_by_thread" in plan
    assert "SCAN match_results" not in plan


def test_forget_patient_makes_its_old_results_new_for_a_patient_stored_again(
    history: MatchHistory,
) -> None:
    record(history, asked_about("outbound", "P1", theirs("r1")))
    record(history, asked_about("inbound", "Q1", ours("P1")))
    asyncio.run(history.forget_patient("clinic-a", "P1"))
    assert new_flags(record(history, asked_about("outbound", "P1", theirs("r1")))) == {"r1": True}
    assert new_flags(record(history, asked_about("inbound", "Q1", ours("P1")))) == {"P1": True}


def test_history_written_before_the_thread_index_keeps_its_flags(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as old:
        for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
            old.execute(statement)
        old.execute("PRAGMA user_version = 2")
        requests = [
            (1, "outbound", "peer-x", "clinic-a", "P1", "P1"),
            (2, "outbound", "peer-x", "clinic-a", "P1", "P1"),
            (3, "inbound", "peer-x", None, None, "Q1"),
            (4, "inbound", "peer-x", None, None, "Q1"),
        ]
        old.executemany(
            "INSERT INTO match_requests (pk, direction, peer, created, owner, patient_id,"
            " query_patient_id, test) VALUES (?, ?, ?, '2025-03-01T12:00:00+00:00', ?, ?, ?, 0)",
            requests,
        )
        old.executemany(
            "INSERT INTO match_results (request_pk, rank, score, owner, patient_id)"
            " VALUES (?, ?, 0.5, ?, ?)",
            [(1, 0, None, "r1"), (2, 0, None, "r1"), (2, 1, None, "r2"), (3, 0, "clinic-a", "P1")]
            + [(4, 0, "clinic-b", "P1"), (4, 1, "clinic-a", "P1")],
        )
        old.commit()
    migrated = MatchHistory(path)
    try:
        again = record(migrated, asked_about("outbound", "P1", theirs("r2", "r3")))
        assert new_flags(again) == {"r2": False, "r3": True}
        assert again.id == 5  # after the file's ids: schema 16 starts match_ids at the largest
    finally:
        migrated.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        flags = db.execute(
            "SELECT request_pk, owner, patient_id, new FROM match_results"
            " WHERE request_pk <= 4 ORDER BY request_pk, rank"
        ).fetchall()
    assert flags == [
        (1, None, "r1", 1),
        (2, None, "r1", 0),
        (2, None, "r2", 1),
        (3, "clinic-a", "P1", 1),
        (4, "clinic-b", "P1", 1),
        (4, "clinic-a", "P1", 0),
    ]


# ---------------------------------------------------------------- audit in the same transaction


def test_a_match_and_its_audit_entries_are_one_transaction(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "node.sqlite3", NodeKey.in_data_dir(tmp_path))
    history = MatchHistory(tmp_path / "node.sqlite3", audit)
    try:
        entry = AuditEntry(AuditEvent.DISCLOSURE, NOW, recipient="node-b", subject="s")
        broken = RecordedMatch(
            direction="inbound",
            peer="node-b",
            created=NOW,
            query_patient_id="Q1",
            test=False,
            results=(RecordedResult(1.5, "P1", "clinic-a"),),  # a score out of [0, 1]
        )
        with pytest.raises(sqlite3.IntegrityError):
            asyncio.run(history.record(broken, audit=[entry]))
        assert list(audit.iter_entries()) == []  # no entry without its match

        good = dataclasses.replace(broken, results=(RecordedResult(0.5, "P1", "clinic-a"),))
        asyncio.run(history.record(good, audit=[entry]))
        assert [e.seq for e in audit.iter_entries()] == [1]
    finally:
        history.close()
        audit.close()


def test_the_owner_sees_another_owners_patient_by_the_pseudonym_it_was_shown_under(
    history: MatchHistory,
) -> None:
    shown = (
        RecordedResult(0.9, "B-MRN-1", "clinic-b", shown_as="3fa9", disclosure="genes"),
        RecordedResult(0.8, "P2", "clinic-a", shown_as="P2", disclosure="variants"),
    )
    record(history, asked_about("local", "P1", shown))
    (match,) = newest_first(history, "P1")
    assert [result.patient_id for result in match.results] == ["3fa9", "P2"]


def test_the_owner_never_sees_another_owners_query_or_patients(
    history: MatchHistory,
) -> None:
    # clinic-b's local match found clinic-a's P1; a peer's query found both clinics' patients.
    record(history, asked_about("local", "B-MRN-1", ours("P1"), owner="clinic-b"))
    both = ours("B-MRN-2", owner="clinic-b") + ours("P1")
    record(history, asked_about("inbound", "Q1", both))
    (inbound,) = newest_first(history, "P1")
    assert inbound.direction == "inbound"
    assert [(result.patient_id, result.owner) for result in inbound.results] == [("P1", "clinic-a")]


# ---------------------------------------------------------------- pages of a patient's history


def mixed_history(history: MatchHistory) -> list[int]:
    """Rounds of every kind of match that may mention clinic-a's P1; the ids it may see.

    Returns the ids of the matches clinic-a may see in P1's history, newest
    first. Among the rest: another submitter's local match that returned P1
    (hidden), and matches of clinic-b's own P1 (another patient).
    """
    visible = []
    for round_ in range(6):

        def seen(match: RecordedMatch) -> None:
            recorded = record(history, match)
            assert recorded.id is not None
            visible.append(recorded.id)

        seen(asked_about("inbound", "Q9", ours("P1", "P4", "P1")))  # P1 listed twice
        record(history, asked_about("local", f"B{round_}", ours("P1"), owner="clinic-b"))
        seen(asked_about("inbound", f"Q{round_}", ours("P2", "P1")))
        seen(asked_about("outbound", "P1", theirs("r1", f"r{round_}")))
        record(history, asked_about("outbound", "P2", theirs("r1")))
        seen(asked_about("local", "P1", ours("P2")))
        seen(asked_about("local", "P1", ours("P1", "P3")))  # P1 both query and result
        record(history, asked_about("outbound", "P1", theirs("r1"), owner="clinic-b"))
        record(history, asked_about("inbound", "Q8", ours("P1", owner="clinic-b")))
    record(history, asked_about("local", "B9", ours("P1"), owner="clinic-b"))
    return visible[::-1]


@pytest.mark.parametrize("limit", [1, 3, 7, 25, 26])
def test_walking_the_pages_lists_every_visible_match_once_newest_first(
    history: MatchHistory, limit: int
) -> None:
    expected = mixed_history(history)
    walked: list[int | None] = []
    before = None
    while True:
        found = page(history, "P1", before, limit)
        assert found.matches, "no page is empty: the one before it had no next page"
        assert len(found.matches) == min(limit, len(expected) - len(walked))
        walked.extend(match.id for match in found.matches)
        if found.next_before is None:
            break
        assert found.next_before == walked[-1]
        before = found.next_before
    assert walked == expected
    assert len(set(walked)) == len(walked) == 30


def test_a_match_that_returned_the_patient_twice_is_listed_once(history: MatchHistory) -> None:
    twice = record(history, asked_about("inbound", "Q1", ours("P1", "P1")))
    assert [match.id for match in newest_first(history, "P1")] == [twice.id]


def test_a_match_with_the_patient_as_query_and_result_is_listed_once(
    history: MatchHistory,
) -> None:
    itself = record(history, asked_about("local", "P1", ours("P1")))
    assert [match.id for match in newest_first(history, "P1")] == [itself.id]


def test_another_submitters_local_matches_do_not_shorten_a_page(history: MatchHistory) -> None:
    first = record(history, asked_about("outbound", "P1", theirs("r1")))
    for query in ("B1", "B2", "B3"):
        record(history, asked_about("local", query, ours("P1"), owner="clinic-b"))
    found = page(history, "P1", limit=1)
    assert ([match.id for match in found.matches], found.next_before) == ([first.id], None)


def test_a_page_before_a_match_starts_below_it(history: MatchHistory) -> None:
    ids = [record(history, asked_about("outbound", "P1", theirs("r1"))).id for _ in range(4)]
    assert ids[2] is not None
    found = page(history, "P1", before=ids[2], limit=1)
    assert ([match.id for match in found.matches], found.next_before) == ([ids[1]], ids[1])
    assert page(history, "P1", before=ids[0]) == HistoryPage((), None)


def test_a_page_reads_the_patients_entries_newest_first_and_stops(tmp_path: Path) -> None:
    """As the query through its index, as a result through the filed entries and the tail
    (by match id): three ranges merged, nothing scanned or sorted."""
    with contextlib.closing(open_database(tmp_path / "node.sqlite3")) as db:
        plan = [
            row[3]
            for row in db.execute(
                f"EXPLAIN QUERY PLAN {history_module._PAGE}",
                {"owner": "a", "patient": "P1", "below": 10, "limit": 3},
            )
        ]
    assert plan.count("MERGE (UNION)") == 2
    assert any("INDEX match_requests_by_patient (" in step for step in plan)
    assert any("SEARCH f USING PRIMARY KEY (owner=? AND patient_id=?" in step for step in plan)
    assert any("sqlite_autoindex_match_results_1 (request_pk>?" in step for step in plan)
    assert not [step for step in plan if step.startswith("SCAN") or "TEMP B-TREE" in step]


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(history_module._MENTIONS, id="mentions"),
        pytest.param(history_module._RESULTS_OF_PATIENTS_MATCHES, id="erasure count"),
        pytest.param(
            "DELETE FROM match_results WHERE rowid IN"
            f" ({history_module._patient_results('r.rowid')})",
            id="erasure",
        ),
    ],
)
def test_lookups_by_patient_read_its_entries_only(tmp_path: Path, statement: str) -> None:
    with contextlib.closing(open_database(tmp_path / "node.sqlite3")) as db:
        plan = [
            row[3]
            for row in db.execute(
                f"EXPLAIN QUERY PLAN {statement}", {"owner": "a", "patient": "P1"}
            )
        ]
    assert not [step for step in plan if step.startswith("SCAN") and "CONSTANT ROW" not in step]
    assert not [step for step in plan if "TEMP B-TREE" in step]


def test_a_results_patient_and_place_cannot_change(history: MatchHistory, tmp_path: Path) -> None:
    """Its filed entry names them: an update would leave it naming another patient."""
    record(history, asked_about("inbound", "Q1", ours("P1")))
    with contextlib.closing(open_database(tmp_path / "node.sqlite3")) as db:
        for change in ("patient_id = 'P2'", "owner = 'clinic-b'", "rank = 5"):
            with pytest.raises(sqlite3.IntegrityError, match="keeps its patient and place"):
                db.execute(f"UPDATE match_results SET {change}")
        db.execute("UPDATE match_results SET seen_at = 'now'")  # the inbox's own column


def test_a_history_from_before_late_filing_is_filed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    filing = next(n for n, step in enumerate(MIGRATIONS) if "match_results_filed" in "".join(step))
    with contextlib.closing(sqlite3.connect(path)) as old:
        for step in MIGRATIONS[:filing]:
            for statement in step:
                old.execute(statement)
        old.execute(f"PRAGMA user_version = {filing}")
        old.execute("INSERT INTO match_threads VALUES (1, 'inbound', 'peer-x', '', 'Q1')")
        for pk in (1, 2):
            old.execute(
                "INSERT INTO match_requests (pk, direction, peer, created, query_patient_id, test)"
                " VALUES (?, 'inbound', 'peer-x', '2025-03-01T12:00:00+00:00', 'Q1', 0)",
                (pk,),
            )
            old.execute(
                "INSERT INTO match_results (request_pk, rank, score, owner, patient_id,"
                " thread_pk, new) VALUES (?, 0, 0.5, 'clinic-a', 'P1', 1, 1),"
                " (?, 1, 0.5, NULL, 'theirs', 1, 1)",
                (pk, pk),
            )
        old.commit()
    history = MatchHistory(path)
    try:
        assert [match.id for match in newest_first(history, "P1")] == [2, 1]
    finally:
        history.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        names = {name for (name,) in db.execute("SELECT name FROM sqlite_schema")}
        filed = db.execute("SELECT * FROM match_results_filed ORDER BY request_pk").fetchall()
        (mark,) = db.execute(
            "SELECT upto FROM filing_marks WHERE name = 'match_results'"
        ).fetchone()
    assert filed == [("clinic-a", "P1", 1, 0), ("clinic-a", "P1", 2, 0)]
    assert mark == 2
    assert not names & {"match_results_by_patient_request", "match_results_by_patient"}
