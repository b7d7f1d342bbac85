"""Writers of one SQLite file, from every process, queue here before taking SQLite's lock.

SQLite lets one writer in at a time. One that finds the write lock taken
sleeps and retries on a growing schedule (1, 2, 5, 10, 15, 20, 25 ... 100 ms)
until ``busy_timeout``, and may find the lock taken again each time it
wakes. With two serving processes committing match history without pause,
one of them slept 6 ms on average per write (230 ms at worst) for a lock held
1.7 ms, and its core idled meanwhile (docs/benchmarks.md, "Every core busy").

A :class:`WriteGate` is an exclusive ``flock`` on a file beside the database,
held from before ``BEGIN IMMEDIATE`` until after ``COMMIT``. A writer that
finds it taken tries again after pauses growing from 50 us to 1 ms, so it
gets in within about a millisecond of the gate opening, and SQLite's lock is
free when it asks for it. Like SQLite, it gives up after the database's busy
timeout (``sqlite3.OperationalError``, which the services answer with 503):
the gate is held for a whole transaction, and a long one (a purge, an import
batch, a command-line process stopped in the middle of a write) must not
keep other writers waiting forever.

``flock`` locks are separate from the POSIX locks SQLite takes on the
database, belong to one open file (two gates of one process exclude each
other as two processes do) and end with their process, so a writer that
crashed never keeps the gate shut. A writer that does not use the gate (the
``sqlite3`` shell) is still kept out by SQLite's lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

FIRST_PAUSE = 0.000_05
LONGEST_PAUSE = 0.001
"""Pauses between tries while the gate is taken: short, since a turn lasts milliseconds."""


def gate_path(database: Path) -> Path:
    """The gate of a database file: ``mme-node.sqlite3`` has ``mme-node.sqlite3-writers``."""
    return database.with_name(database.name + "-writers")


class WriteGate:
    """The write gate of one database file, through a descriptor of its own."""

    def __init__(self, database: Path, timeout: float) -> None:
        self.path = gate_path(database)
        self.timeout = timeout
        self._descriptor: int | None = os.open(
            self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    @contextlib.contextmanager
    def passed(self) -> Iterator[None]:
        """Hold the gate for the block; ``sqlite3.OperationalError`` if it stays taken."""
        if self._descriptor is None:
            raise RuntimeError(f"write gate {self.path} is closed")
        descriptor = self._descriptor
        self._enter(descriptor)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _enter(self, descriptor: int) -> None:
        deadline = time.monotonic() + self.timeout
        pause = FIRST_PAUSE
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            except OSError as error:  # a file system without flock, say
                raise sqlite3.OperationalError(
                    f"cannot lock the write gate {self.path}: {error.strerror or error}"
                ) from error
            if time.monotonic() >= deadline:
                raise sqlite3.OperationalError(
                    f"database is locked: another writer kept the write gate {self.timeout:g} s"
                )
            time.sleep(pause)
            pause = min(2 * pause, LONGEST_PAUSE)
