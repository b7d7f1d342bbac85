"""An acknowledged write survives the writer being killed, and nothing is half-written.

A real child process (``crash_writer.py``) bulk-imports into a real SQLite
file and reports each acknowledged batch; the test kills it with SIGKILL in
the middle of the import and then inspects the file.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from store_samples import sample_record

import mme_node
from mme_node.model import PatientRecord
from mme_node.stores import SQLitePatientStore

pytestmark = pytest.mark.anyio

WRITER = Path(__file__).with_name("crash_writer.py")
PACKAGE_ROOT = Path(mme_node.__file__).resolve().parents[1]


def kill_writer_after(database: Path, acknowledgements: int) -> int:
    """Run the writer, SIGKILL it after some acknowledged batches; the last acknowledged number."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(PACKAGE_ROOT), environment.get("PYTHONPATH")])
    )
    with subprocess.Popen(
        [sys.executable, str(WRITER), str(database)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    ) as writer:
        assert writer.stdout is not None and writer.stderr is not None
        last = -1
        try:
            for _ in range(acknowledgements):
                line = writer.stdout.readline()
                assert line.startswith("ack "), f"writer failed: {line!r} {writer.stderr.read()}"
                last = int(line.split()[1])
        finally:
            writer.kill()  # SIGKILL: no clean-up, no flush, mid-import
        # Batches acknowledged between our last read and the kill count too.
        for line in writer.stdout:
            last = int(line.split()[1])
    assert writer.returncode == -signal.SIGKILL
    return last


def content(record: PatientRecord) -> PatientRecord:
    return dataclasses.replace(record, version=1, created=None, updated=None)


@pytest.mark.parametrize("acknowledgements", [1, 5])
async def test_acknowledged_patients_survive_sigkill_whole(
    tmp_path: Path, acknowledgements: int
) -> None:
    database = tmp_path / "mme-node.sqlite3"

    last = kill_writer_after(database, acknowledgements)

    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # each batch logs its changes in its own transaction: both land or neither
        (patients,) = connection.execute("SELECT count(*) FROM patients").fetchone()
        (changes,) = connection.execute("SELECT count(*) FROM changes").fetchone()
        assert changes == patients
    store = SQLitePatientStore(database)
    await store.open()
    try:
        for number in range(last + 1):
            stored = await store.get("clinic-a", f"case-{number:06d}")
            assert content(stored) == sample_record(number)
        seen = 0
        async for record in store.iter_records():
            number = int(record.patient.id.removeprefix("case-"))
            assert content(record) == sample_record(number)
            seen += 1
        assert seen >= last + 1
        assert seen % 50 == 0, "a batch is committed whole or not at all"
    finally:
        await store.close()
