"""The audit log: appended in the caller's transaction, chained, verified, read back."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mme_node.errors import ServiceUnavailable
from mme_node.security import audit as audit_module
from mme_node.security.audit import (
    EVENT_MEANINGS,
    GENESIS,
    SUBJECTS_FILING,
    AuditEntry,
    AuditEvent,
    AuditLog,
)
from mme_node.security.keys import NodeKey
from mme_node.stores.database import MIGRATIONS, open_database, transaction
from mme_node.stores.filing import file_batch

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "mme-node.sqlite3"


@pytest.fixture
def audit(database: Path, tmp_path: Path) -> AuditLog:
    log = AuditLog(database, NodeKey.in_data_dir(tmp_path))
    yield log  # type: ignore[misc]
    log.close()


def disclosure(number: int, subject: str = "s1", recipient: str = "node-b") -> AuditEntry:
    return AuditEntry(
        AuditEvent.DISCLOSURE,
        T0 + timedelta(minutes=number),
        actor=recipient,
        recipient=recipient,
        subject=subject,
        pseudonym=f"p{number}",
        level="genes",
        score=0.5,
        test=False,
    )


def tamper(database: Path, statement: str) -> None:
    """What someone with the sqlite3 shell could do: drop the guards, change the log."""
    with sqlite3.connect(database) as raw:
        raw.execute("DROP TRIGGER IF EXISTS audit_log_is_append_only_update")
        raw.execute("DROP TRIGGER IF EXISTS audit_log_is_append_only_delete")
        raw.execute(statement)


def test_an_untouched_log_verifies_and_reports_its_head(audit: AuditLog) -> None:
    audit.record_now(*(disclosure(n) for n in range(5)))

    found = audit.verify_now()

    assert found.ok and found.entries == 5 and found.head_seq == 5
    assert found.head_hash == audit.iter_entries(after=4).__next__().hash


def test_entries_are_stored_as_canonical_json_chained_by_the_keyed_hash(
    audit: AuditLog, database: Path, tmp_path: Path
) -> None:
    shared = datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    entries = [
        AuditEntry(AuditEvent.DISCLOSURE, shared, actor="clinique-é", subject="s1", score=1 / 3),
        AuditEntry(AuditEvent.DISCLOSURE, shared, actor="node-b", test=True),
        AuditEntry(AuditEvent.PEER_ADDED, T0, actor="cli", details={"url": "https://b", "n": 2}),
    ]
    audit.record_now(*entries)

    with sqlite3.connect(database) as raw:
        rows = raw.execute("SELECT seq, entry, hash FROM audit_log ORDER BY seq").fetchall()
    key = bytes.fromhex((tmp_path / "node.key").read_text().strip())
    previous = GENESIS
    for (seq, text, digest), entry in zip(rows, entries, strict=True):
        canonical = json.dumps(
            {"seq": seq, **entry.document()},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
            allow_nan=False,
        )
        message = b"\0".join([b"audit-chain", previous.encode(), text.encode()])
        assert text == canonical
        assert digest == hmac.new(key, message, hashlib.sha256).hexdigest()
        previous = digest
    assert '"time":"2026-01-01T12:00:00.000000+00:00"' in rows[1][1]
    assert '"actor":"clinique-\\u00e9"' in rows[0][1]


def test_an_empty_log_verifies(audit: AuditLog) -> None:
    assert audit.verify_now().ok


def test_an_edited_entry_is_named(audit: AuditLog, database: Path) -> None:
    audit.record_now(*(disclosure(n) for n in range(5)))
    tamper(
        database, "UPDATE audit_log SET entry = replace(entry, 'node-b', 'node-x') WHERE seq = 3"
    )

    found = audit.verify_now()

    assert (found.ok, found.first_bad) == (False, 3)
    assert found.problem == "entry 3 was changed"


def test_a_removed_entry_is_named(audit: AuditLog, database: Path) -> None:
    audit.record_now(*(disclosure(n) for n in range(5)))
    tamper(database, "DELETE FROM audit_log WHERE seq = 2")

    found = audit.verify_now()

    assert (found.first_bad, found.problem) == (2, "entry 2 was removed")


def test_removing_the_newest_entries_is_seen_from_the_head(audit: AuditLog, database: Path) -> None:
    audit.record_now(*(disclosure(n) for n in range(5)))
    tamper(database, "DELETE FROM audit_log WHERE seq >= 4")

    found = audit.verify_now()

    assert found.first_bad == 4
    assert "entry 4 was removed" in (found.problem or "")


def test_a_renumbered_entry_is_named(audit: AuditLog, database: Path) -> None:
    audit.record_now(*(disclosure(n) for n in range(3)))
    tamper(database, "DELETE FROM audit_log WHERE seq = 3")
    tamper(database, "UPDATE audit_log SET seq = 3 WHERE seq = 2")

    assert audit.verify_now().first_bad == 2


def test_the_log_refuses_updates_and_deletes(audit: AuditLog, database: Path) -> None:
    audit.record_now(disclosure(1))
    with sqlite3.connect(database) as raw:
        for statement in ("UPDATE audit_log SET hash = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute(statement)


def test_entries_appended_in_a_transaction_that_rolls_back_are_not_kept(
    audit: AuditLog, database: Path
) -> None:
    db = open_database(database)
    try:
        db.execute("BEGIN IMMEDIATE")
        audit.append_in(db, [disclosure(1)])
        db.execute("ROLLBACK")
    finally:
        db.close()

    assert list(audit.iter_entries()) == []
    assert audit.verify_now().ok


def test_entries_hold_no_direct_identifier_and_read_back_in_order(audit: AuditLog) -> None:
    audit.record_now(*(disclosure(n) for n in range(3)))

    stored = list(audit.iter_entries())

    assert [entry.seq for entry in stored] == [1, 2, 3]
    assert stored[0].document == {
        "seq": 1,
        "event": "disclosure",
        "time": "2026-01-01T12:00:00.000000+00:00",
        "actor": "node-b",
        "recipient": "node-b",
        "subject": "s1",
        "pseudonym": "p0",
        "level": "genes",
        "score": 0.5,
        "test": False,
    }


def test_entries_are_read_a_page_at_a_time_with_filters(audit: AuditLog) -> None:
    audit.record_now(*(disclosure(n, subject=f"s{n % 2}") for n in range(2500)))

    assert len(list(audit.iter_entries())) == 2500
    assert [e.seq for e in audit.iter_entries(after=10, limit=3)] == [11, 12, 13]
    assert len(list(audit.iter_entries(subject="s1"))) == 1250
    since = T0 + timedelta(minutes=2490)
    assert [e.seq for e in audit.iter_entries(since=since)] == list(range(2491, 2501))


def test_the_newest_entries_come_first_a_page_at_a_time_by_event(audit: AuditLog) -> None:
    audit.record_now(*(disclosure(n) for n in range(5)))
    audit.record_now(AuditEntry(AuditEvent.ERASURE, T0, actor="cli", subject="s1"))
    audit.record_now(*(disclosure(n) for n in range(5, 8)))

    newest = asyncio.run(audit.newest(limit=3))
    older = asyncio.run(audit.newest(before=newest[-1].seq, limit=3))
    erasures = asyncio.run(audit.newest(event=AuditEvent.ERASURE))

    assert [e.seq for e in newest] == [9, 8, 7]
    assert [e.seq for e in older] == [6, 5, 4]
    assert [(e.seq, e.document["event"]) for e in erasures] == [(6, "erasure")]
    assert asyncio.run(audit.newest(before=1)) == []


def test_entries_of_one_kind_about_one_subject_are_found(audit: AuditLog) -> None:
    audit.record_now(*(disclosure(n, subject=f"s{n % 3}") for n in range(30)))
    audit.record_now(AuditEntry(AuditEvent.ERASURE, T0, actor="cli", subject="s1"))

    erasures = list(audit.iter_entries(subject="s1", event=AuditEvent.ERASURE))
    disclosures = list(audit.iter_entries(subject="s2", event=AuditEvent.DISCLOSURE))

    assert [e.seq for e in erasures] == [31]
    assert [e.seq for e in disclosures] == list(range(3, 31, 3))


def test_a_log_from_before_the_kind_index_is_paged_by_kind_through_it(tmp_path: Path) -> None:
    """Opening a file written by an older mme-node adds the index, entries kept."""
    path = tmp_path / "old.sqlite3"
    indexed = next(n for n, step in enumerate(MIGRATIONS) if "audit_by_event" in "".join(step))
    key = NodeKey.in_data_dir(tmp_path)
    with sqlite3.connect(path, isolation_level=None) as old:
        for step in MIGRATIONS[:indexed]:
            for statement in step:
                old.execute(statement)
        old.execute(f"PRAGMA user_version = {indexed}")
        old.execute("BEGIN IMMEDIATE")
        writer = AuditLog(path, key)
        writer.append_in(old, [disclosure(n) for n in range(200)])
        writer.append_in(old, [AuditEntry(AuditEvent.ERASURE, T0, actor="cli", subject="s1")])
        old.execute("COMMIT")
    old.close()

    log = AuditLog(path, key)
    try:
        erasures = asyncio.run(log.newest(event=AuditEvent.ERASURE))
        verified = log.verify_now()
    finally:
        log.close()
    with sqlite3.connect(path) as upgraded:
        plan = upgraded.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM audit_log"
            " WHERE seq < ? AND json_extract(entry, '$.event') = ? ORDER BY seq DESC LIMIT 50",
            (10**9, "erasure"),
        ).fetchall()
    upgraded.close()

    assert [e.seq for e in erasures] == [201]
    assert verified.ok and verified.entries == 201
    assert "USING INDEX audit_by_event" in plan[0][3]


@pytest.mark.parametrize("filed_through", [0, 7, 12])
def test_entries_about_a_subject_are_found_filed_or_in_the_tail(
    audit: AuditLog, database: Path, filed_through: int
) -> None:
    """By subject, entries are found filed (``audit_subjects``) and above the mark alike."""
    audit.record_now(
        *(disclosure(n, subject=f"s{n % 3}", recipient=f"n{n % 2}") for n in range(12))
    )
    audit.record_now(AuditEntry(AuditEvent.AUTHENTICATION_FAILED, T0, actor="10.0.0.1"))
    with contextlib.closing(open_database(database)) as db, transaction(db, "IMMEDIATE"):
        file_batch(db, dataclasses.replace(SUBJECTS_FILING, step=filed_through))

    about_s1 = [e.seq for e in audit.iter_entries(subject="s1")]
    exposures = audit.exposures_now("s1")

    assert about_s1 == [2, 5, 8, 11]
    assert [(e.recipient, e.times) for e in exposures] == [("n0", 2), ("n1", 2)]
    with contextlib.closing(open_database(database)) as db:
        filed = db.execute("SELECT subject, seq FROM audit_subjects ORDER BY seq").fetchall()
    assert filed == [(f"s{(seq - 1) % 3}", seq) for seq in range(1, filed_through + 1)]


@pytest.mark.parametrize(
    ("statement", "parameters"),
    [
        pytest.param(
            audit_module._ENTRIES_AFTER.format(where=audit_module._filters(subject="s")[0]),
            {"subject": "s", "after": 5, "limit": 10},
            id="entries about a subject",
        ),
        pytest.param(
            audit_module._ENTRIES_AFTER.format(
                where=audit_module._filters(T0, "s", AuditEvent.ERASURE)[0]
            ),
            {"subject": "s", "since": "2026", "event": "erasure", "after": 5, "limit": 10},
            id="with a time and a kind",
        ),
        pytest.param(audit_module._EXPOSURES, {"subject": "s", "after": 0}, id="exposures"),
    ],
)
def test_entries_about_a_subject_are_read_through_its_filed_entries_and_the_tail(
    database: Path, statement: str, parameters: dict[str, object]
) -> None:
    with contextlib.closing(open_database(database)) as db:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    assert any("SEARCH audit_subjects USING PRIMARY KEY (subject=? AND seq>?)" in p for p in plan)
    assert any("SEARCH audit_log USING INTEGER PRIMARY KEY (rowid>?)" in p for p in plan)
    assert not [step for step in plan if step.startswith("SCAN")]


def test_a_log_from_before_late_filing_has_its_subjects_filed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    filing = next(n for n, step in enumerate(MIGRATIONS) if "audit_subjects" in "".join(step))
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as old:
        for step in MIGRATIONS[:filing]:
            for statement in step:
                old.execute(statement)
        old.execute(f"PRAGMA user_version = {filing}")
        old.execute("BEGIN IMMEDIATE")
        AuditLog(path, NodeKey.in_data_dir(tmp_path)).append_in(
            old, [disclosure(1, subject="s2"), disclosure(2, subject="s1")]
        )
        old.execute("COMMIT")

    log = AuditLog(path, NodeKey.in_data_dir(tmp_path))
    try:
        assert [e.seq for e in log.iter_entries(subject="s1")] == [2]
    finally:
        log.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        filed = db.execute("SELECT subject, seq FROM audit_subjects").fetchall()
        mark = db.execute("SELECT upto FROM filing_marks WHERE name = 'audit_log'").fetchone()
        names = {name for (name,) in db.execute("SELECT name FROM sqlite_schema")}
    assert (filed, mark) == ([("s1", 2), ("s2", 1)], (2,))
    assert "audit_by_subject" not in names


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"actor": "clinique-é", "recipient": 'node "b"\n', "pseudonym": "\u2028\x00\\"},
        {"subject": "𝔰", "level": "variants", "test": True},
        {"score": 1 / 3},
        {"score": 1.0},
        {"score": 0.0},
        {"score": 1e-7},
        {"score": 0.12345650000000001},
        {"event": AuditEvent.OUTBOUND_REQUEST},
    ],
)
def test_a_disclosure_is_written_as_the_canonical_encoder_writes_it(
    changes: dict[str, Any],
) -> None:
    """The direct text of a result's entry is byte for byte the generic one (the chain
    hash covers it, and ``audit verify`` of older logs recomputes it)."""
    entry = dataclasses.replace(disclosure(7), **changes)
    time = audit_module._utc_text(entry.time)
    generic = audit_module._CANONICAL.encode({"seq": 12, **entry._document(time)})
    assert audit_module._disclosure_text(12, entry, time) == generic


def test_the_direct_text_of_a_disclosure_knows_every_field_of_an_entry() -> None:
    """``_disclosure_text`` lists the fields it writes: a field added to entries must be
    added there too (or make it decline the entry), or the text would leave it out."""
    assert {field.name for field in dataclasses.fields(AuditEntry)} == {
        "event",
        "time",
        "actor",
        "recipient",
        "subject",
        "pseudonym",
        "level",
        "score",
        "test",
        "details",
    }, "a new field of AuditEntry: teach audit._disclosure_text about it"


@pytest.mark.parametrize(
    "changes",
    [
        {"details": {"why": "x"}},
        {"score": None},
        {"score": 1},
        {"score": float("nan")},
        {"test": None},
        {"pseudonym": None},
        {"actor": None},
    ],
)
def test_any_other_entry_is_left_to_the_canonical_encoder(changes: dict[str, Any]) -> None:
    entry = dataclasses.replace(disclosure(7), **changes)
    assert audit_module._disclosure_text(12, entry, "2026") is None


def test_every_event_has_a_meaning_for_readers_of_the_log() -> None:
    assert set(EVENT_MEANINGS) == set(AuditEvent)
    assert all(meaning.strip() for meaning in EVENT_MEANINGS.values())


def test_exposures_say_who_was_shown_a_subject(audit: AuditLog) -> None:
    audit.record_now(
        disclosure(1, recipient="node-b"),
        disclosure(2, recipient="node-c"),
        disclosure(3, recipient="node-b"),
        disclosure(4, subject="other", recipient="node-d"),
        AuditEntry(AuditEvent.ERASURE, T0, actor="clinic-a", subject="s1"),
    )

    exposures = audit.exposures_now("s1")

    assert [(e.recipient, e.times, e.levels) for e in exposures] == [
        ("node-b", 2, ("genes",)),
        ("node-c", 1, ("genes",)),
    ]
    assert exposures[0].first == "2026-01-01T12:01:00.000000+00:00"


def test_an_entry_queued_for_later_is_written_by_close(audit: AuditLog) -> None:
    audit.record_later(AuditEntry(AuditEvent.AUTHENTICATION_FAILED, actor="10.0.0.1"))
    audit.close()

    (stored,) = audit.iter_entries()
    assert stored.document["event"] == "authentication-failed"


def test_a_log_checked_with_another_key_fails_at_the_first_entry(
    audit: AuditLog, database: Path, tmp_path: Path
) -> None:
    audit.record_now(disclosure(1))
    stranger = AuditLog(database, NodeKey.in_data_dir(tmp_path / "elsewhere"))
    try:
        assert stranger.verify_now().first_bad == 1
    finally:
        stranger.close()


def test_a_database_failure_is_a_service_error(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "missing" / "dir" / "x" / "db", NodeKey.in_data_dir(tmp_path))
    (tmp_path / "missing").write_text("a file where the directory should be")
    with pytest.raises(ServiceUnavailable):
        log.record_now(disclosure(1))
