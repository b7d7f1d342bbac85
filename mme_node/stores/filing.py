"""Rows filed by patient late, in sorted batches, instead of by an index at every write.

The match history and the audit log are found by patient: a patient's page
of matches, an erasure, "who was shown this patient?". A SQLite index keyed
by patient puts each new row on a random page of the index, and a commit
writes every page it dirtied, whole, into the write-ahead log: recording a
``/match`` answer of 200 results dirtied some 400 random pages (a history row
and an audit entry per result), about two thirds of the cost of recording it,
paid before the answer could leave (docs/benchmarks.md).

So those rows are written in the order of their own keys only (which fills
the last pages), and a :class:`LateFiling` task in every serving process
files them by patient every :data:`FILING_INTERVAL` seconds: a batch sorted
by patient writes each page it touches once, off the request path. A
:class:`Filing` names one such table; its *mark* (``filing_marks``) is the
highest key filed. A lookup by patient reads the filed entries and scans the
*tail*, the rows above the mark: what arrived since the last batch while a
server runs, everything since the last server otherwise (correct, slower).

The filed tables are derived data: losing a batch (a crash) loses nothing,
the next batch files those rows again from the mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mme_node.errors import MMEError
from mme_node.stores.database import SerialConnection

log = logging.getLogger(__name__)

FILING_INTERVAL = 1.0
"""Seconds between two batches of a serving process: about the tail a lookup scans."""


@dataclass(frozen=True)
class Filing:
    """One table filed late: its source rows' keys only grow, and every key at or below
    ``top`` is committed (a key is given inside the transaction writing its rows)."""

    name: str
    """Its row in ``filing_marks``."""
    top: str
    """SQL: the highest key written so far."""
    fill: str
    """SQL: files the source rows with keys in (``:after``, ``:through``], sorted by patient."""
    step: int
    """Keys filed per transaction at most, so that a batch holds the write lock briefly."""

    @property
    def mark(self) -> str:
        """SQL: the highest key filed; the tail is the rows above it."""
        return f"(SELECT upto FROM filing_marks WHERE name = '{self.name}')"


def behind(db: sqlite3.Connection, filing: Filing) -> int:
    """How many keys of ``filing`` wait to be filed."""
    upto, top = _positions(db, filing)
    return top - upto


def file_batch(db: sqlite3.Connection, filing: Filing) -> int:
    """File one batch of ``filing`` inside the caller's write transaction; how many keys."""
    upto, top = _positions(db, filing)
    through = min(top, upto + filing.step)
    if through <= upto:
        return 0
    db.execute(filing.fill, {"after": upto, "through": through})
    db.execute("UPDATE filing_marks SET upto = ? WHERE name = ?", (through, filing.name))
    return through - upto


def _positions(db: sqlite3.Connection, filing: Filing) -> tuple[int, int]:
    """(the mark, the highest key written)."""
    upto, top = db.execute(f"SELECT {filing.mark}, ({filing.top})").fetchone()
    return int(upto), int(top)


class LateFiling:
    """Files ``filings`` of the node's SQLite file in the background, until stopped.

    Any number of processes may run one: each batch is a write transaction
    that reads the mark afresh, so two never file the same rows.
    """

    def __init__(
        self, database_path: Path, filings: Sequence[Filing], interval: float = FILING_INTERVAL
    ) -> None:
        self.filings = tuple(filings)
        self.interval = interval
        self._database = SerialConnection(database_path, "late filing")
        self._task: asyncio.Task[None] | None = None

    def file_now(self) -> bool:
        """One batch of each filing that is behind (blocking); whether more wait.

        A look without the write lock first: an idle node takes no lock.
        """
        with self._database.transaction() as db:
            waiting = [filing for filing in self.filings if behind(db, filing)]
        if not waiting:
            return False
        with self._database.transaction("IMMEDIATE") as db:
            for filing in waiting:
                file_batch(db, filing)
            return any(behind(db, filing) for filing in waiting)

    def file_all(self) -> None:
        """File everything written so far (blocking): tests, benchmarks, start-up."""
        while self.file_now():
            pass

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="late filing")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.close()

    def close(self) -> None:
        self._database.close()

    async def _run(self) -> None:
        while True:
            try:
                more = await asyncio.to_thread(self.file_now)
            except MMEError as error:  # busy or failing: the next round tries again
                log.warning("late filing: %s", error.message)
                more = False
            if not more:
                await asyncio.sleep(self.interval)
