"""The node's SQLite file: durability settings and schema migrations."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from mme_node.errors import ServiceUnavailable
from mme_node.stores.database import (
    MIGRATIONS,
    SerialConnection,
    open_database,
    schema_version,
    transaction,
)
from mme_node.stores.write_gate import WriteGate, gate_path


def test_connection_uses_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    connection = open_database(tmp_path / "node.sqlite3")

    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert connection.execute("PRAGMA synchronous").fetchone() == (2,)
    assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert connection.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert connection.execute("PRAGMA secure_delete").fetchone() == (1,)


def test_opening_creates_missing_directories_and_current_schema(tmp_path: Path) -> None:
    connection = open_database(tmp_path / "a" / "b" / "node.sqlite3")

    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"patients", "clients"} <= tables
    assert schema_version(connection) == len(MIGRATIONS)


def test_opening_again_applies_nothing_twice(tmp_path: Path) -> None:
    open_database(tmp_path / "node.sqlite3").close()

    connection = open_database(tmp_path / "node.sqlite3")

    assert schema_version(connection) == len(MIGRATIONS)


def test_connections_opening_a_new_file_at_the_same_moment_all_get_it(tmp_path: Path) -> None:
    """The workers of a first start open the file together: none may fail to switch it to
    write-ahead logging because another one is switching it."""
    failures: list[BaseException] = []
    for attempt in range(100):
        path = tmp_path / f"new-{attempt}.sqlite3"
        together = threading.Barrier(2)

        def open_it(path: Path = path, together: threading.Barrier = together) -> None:
            together.wait()
            try:
                open_database(path).close()
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=open_it) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


def test_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")

    with pytest.raises(ServiceUnavailable, match="upgrade mme-node"):
        open_database(path)


def test_a_sqlite_without_the_json_arrow_operator_is_refused_before_the_file_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3.37 has STRICT tables but not ->>, which reads the keys of get_many and of
    # the history's novelty lookup: such a node would fail on its first match.
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 37, 2))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.37.2")

    with pytest.raises(ServiceUnavailable, match=r"SQLite 3\.37\.2 is too old.*3\.38\.0"):
        open_database(tmp_path / "node.sqlite3")
    assert not (tmp_path / "node.sqlite3").exists()


def test_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")

    with pytest.raises(ServiceUnavailable):
        open_database(tmp_path / "file" / "node.sqlite3")


def test_opening_another_connection_keeps_this_process_locks_on_the_file(tmp_path: Path) -> None:
    """Another process closing its connection must not delete the WAL under ours.

    Closing any descriptor of the database file drops every POSIX lock this
    process holds on it; opening a connection must not do that.
    """
    path = tmp_path / "mme-node.sqlite3"
    held = open_database(path)
    held.execute("SELECT count(*) FROM patients").fetchone()
    open_database(path).close()

    reader = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
        " c.execute('SELECT 1 FROM patients'); c.close()"
    )
    subprocess.run([sys.executable, "-c", reader, str(path)], check=True)

    try:
        assert path.with_name(path.name + "-wal").exists()
        assert path.with_name(path.name + "-shm").exists()
    finally:
        held.close()


def test_the_change_table_keeps_its_rows_and_its_counter_through_the_erasure_migration(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.sqlite3"
    announced = next(n for n, step in enumerate(MIGRATIONS) if "changes_v2" in "".join(step))
    with closing(sqlite3.connect(path, isolation_level=None)) as old:
        for statements in MIGRATIONS[:announced]:  # the schema before erasure announcements
            for statement in statements:
                old.execute(statement)
        old.execute(f"PRAGMA user_version = {announced}")
        for patient_id in ("P1", "P2", "P3"):
            old.execute(
                "INSERT INTO changes (created, kind, owner, patient_id)"
                " VALUES ('t', 'patient', 'a', ?)",
                (patient_id,),
            )
        old.execute(
            "INSERT INTO changes (created, kind, release_key, release_version)"
            " VALUES ('t', 'release', 'k', 'v')"
        )
        old.execute("DELETE FROM changes WHERE seq >= 3")  # the newest ones pruned

    connection = open_database(path)

    assert connection.execute("SELECT seq, patient_id FROM changes").fetchall() == [
        (1, "P1"),
        (2, "P2"),
    ]
    (seq,) = connection.execute(
        "INSERT INTO changes (created, kind, owner, subject) VALUES ('t', 'erasure', 'a', 'ab12')"
        " RETURNING seq"
    ).fetchone()
    assert seq == 5  # never a seq used before
    with pytest.raises(sqlite3.IntegrityError):  # an erasure never names the patient
        connection.execute(
            "INSERT INTO changes (created, kind, owner, patient_id, subject)"
            " VALUES ('t', 'erasure', 'a', 'P1', 'ab12')"
        )


def test_a_serial_connection_names_its_service_in_database_failures(tmp_path: Path) -> None:
    database = SerialConnection(tmp_path / "node.sqlite3", "session store")
    try:
        failure = pytest.raises(ServiceUnavailable, match="^session store failed: no such table")
        with failure, database.held() as connection:
            connection.execute("SELECT * FROM no_such_table")
        with failure, database.transaction("IMMEDIATE") as connection:
            connection.execute("SELECT * FROM no_such_table")
    finally:
        database.close()


def test_a_serial_connection_commits_a_transaction_only_when_it_ends_well(tmp_path: Path) -> None:
    database = SerialConnection(tmp_path / "node.sqlite3", "test")
    row = ("c1", "peer", "0" * 64, "2026-01-01")
    insert = "INSERT INTO clients (name, role, token_sha256, created) VALUES (?, ?, ?, ?)"
    try:
        with pytest.raises(RuntimeError), database.transaction("IMMEDIATE") as connection:
            connection.execute(insert, row)
            raise RuntimeError("the caller changed its mind")
        with database.held() as connection:
            assert connection.execute("SELECT count(*) FROM clients").fetchone() == (0,)
            assert not connection.in_transaction
        with database.transaction("IMMEDIATE") as connection:
            connection.execute(insert, row)
        with database.held() as connection:
            assert connection.execute("SELECT name FROM clients").fetchall() == [("c1",)]
    finally:
        database.close()


GATE_HOLDER = """
import fcntl, sys
with open(sys.argv[1], "a") as gate:
    fcntl.flock(gate, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.readline()
"""


@contextmanager
def gate_held_by_another_process(database: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the write gate of ``database`` until its stdin gets a line."""
    holder = subprocess.Popen(
        [sys.executable, "-c", GATE_HOLDER, str(gate_path(database))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def started_write(connection: sqlite3.Connection) -> threading.Event:
    """A write transaction started in a thread; the event is set once it has committed."""
    committed = threading.Event()

    def write() -> None:
        with transaction(connection, "IMMEDIATE"):
            connection.execute("CREATE TABLE written (x INTEGER)")
        committed.set()

    threading.Thread(target=write, daemon=True).start()
    return committed


def test_a_write_waits_while_another_process_holds_the_write_gate(tmp_path: Path) -> None:
    path = tmp_path / "mme-node.sqlite3"
    with closing(open_database(path)) as connection:
        with gate_held_by_another_process(path) as holder:
            committed = started_write(connection)
            assert not committed.wait(0.5)  # SQLite's own lock is free: only the gate holds it
            assert holder.stdin is not None
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert committed.wait(30)
        assert connection.execute("SELECT count(*) FROM written").fetchone() == (0,)


def test_a_writer_killed_while_holding_the_gate_does_not_keep_it_shut(tmp_path: Path) -> None:
    path = tmp_path / "mme-node.sqlite3"
    with closing(open_database(path)) as connection, gate_held_by_another_process(path) as holder:
        committed = started_write(connection)
        assert not committed.wait(0.2)
        holder.kill()
        assert committed.wait(30)


def test_reads_do_not_wait_at_the_write_gate(tmp_path: Path) -> None:
    path = tmp_path / "mme-node.sqlite3"
    with (
        closing(open_database(path)) as connection,
        gate_held_by_another_process(path),
        transaction(connection) as reading,
    ):
        assert reading.execute("SELECT count(*) FROM clients").fetchone() == (0,)


def test_the_write_gate_is_private_to_the_node_user(tmp_path: Path) -> None:
    path = tmp_path / "mme-node.sqlite3"
    open_database(path).close()

    assert stat.S_IMODE(gate_path(path).stat().st_mode) == 0o600


def test_a_writer_gives_up_when_the_gate_stays_taken_past_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "mme-node.sqlite3"
    open_database(path).close()
    gate = WriteGate(path, timeout=0.2)
    try:
        with (
            gate_held_by_another_process(path),
            pytest.raises(sqlite3.OperationalError, match="locked"),
            gate.passed(),
        ):
            pytest.fail("the gate was passed while another process held it")
        with gate.passed():  # free again once the holder is gone
            pass
    finally:
        gate.close()
