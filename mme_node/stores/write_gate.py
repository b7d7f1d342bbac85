"""Writers of one SQLite file, from every process, queue here before taking SQLite's lock.

SQLite lets one writer in at a time. One that finds the write lock taken
sleeps and retries on a growing schedule (1, 2, 5, 10, 15, 20, 25 ... 100 ms)
until ``busy_timeout``, and may find the lock taken again each time it
wakes. With two serving processes committing match history without pause,
one of them slept 6 ms on average per write (230 ms at worst) for a lock held
1.7 ms, and its core idled meanwhile (docs/benchmarks.md).

A :class:`WriteGate` is an exclusive ``flock`` on a file beside the database,
held from before ``BEGIN IMMEDIATE`` until after ``COMMIT``: a waiting writer
blocks in the kernel and is woken as soon as the gate opens, so SQLite's lock
is free when it asks for it. ``flock`` locks are separate from the POSIX
locks SQLite takes on the database, belong to one open file (two gates of one
process exclude each other as two processes do) and end with their process,
so a writer that crashed never keeps the gate shut. A writer that does not
use the gate (the ``sqlite3`` shell) is still kept out by SQLite's lock, and
a gated writer waiting for it still gives up after ``busy_timeout``.

The wait for the gate itself is not bounded: the gate is only ever held for
one transaction by a live process, which finishes it or fails within
``busy_timeout``. (A node process stopped with SIGSTOP in the middle of a
write holds it until it is continued or killed.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def gate_path(database: Path) -> Path:
    """The gate of a database file: ``mme-node.sqlite3`` has ``mme-node.sqlite3-writers``."""
    return database.with_name(database.name + "-writers")


class WriteGate:
    """The write gate of one database file, through a descriptor of its own."""

    def __init__(self, database: Path) -> None:
        self.path = gate_path(database)
        self._descriptor: int | None = os.open(
            self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    @contextlib.contextmanager
    def passed(self) -> Iterator[None]:
        """Hold the gate for the block, waiting (GIL released) while another writer holds it."""
        if self._descriptor is None:
            raise RuntimeError(f"write gate {self.path} is closed")
        descriptor = self._descriptor
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
