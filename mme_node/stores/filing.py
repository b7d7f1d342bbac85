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
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mme_node.periodic import Periodic
from mme_node.stores.database import SerialConnection

FILING_INTERVAL = 1.0
"""Seconds between two batches of a serving process: about the tail a lookup scans."""

CATCH_UP_PAUSE = 0.02
"""Seconds between two batches while more wait (after the command line recorded many
matches): the write lock is free in between for the answers being recorded."""


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
    """How many keys of ``filing`` wait to be filed (0 also for a mark above the top, as in
    a file edited by hand: nothing can be filed there until new rows pass it)."""
    upto, top = _positions(db, filing)
    return max(0, top - upto)


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
    that reads the mark afresh, so two never file the same rows. Each filing
    has its transactions of its own: one that fails (the warning says why,
    every round) does not hold up the other.
    """

    def __init__(
        self, database_path: Path, filings: Sequence[Filing], interval: float = FILING_INTERVAL
    ) -> None:
        self.filings = tuple(filings)
        self._database = SerialConnection(database_path, "late filing")
        self._rounds = Periodic("late filing", self._file_round, interval, pause=CATCH_UP_PAUSE)

    def file_now(self) -> bool:
        """One batch of each filing that is behind (blocking); whether more wait.

        A look without the write lock first: an idle node takes no lock.
        """
        with self._database.transaction() as db:
            waiting = [filing for filing in self.filings if behind(db, filing)]
        more = False
        for filing in waiting:
            with self._database.transaction("IMMEDIATE") as db:
                file_batch(db, filing)
                more = more or bool(behind(db, filing))
        return more

    def file_all(self) -> None:
        """File everything written so far (blocking): tests and benchmarks."""
        while self.file_now():
            pass

    def start(self) -> None:
        """File now and every ``interval`` seconds in the background, until :meth:`stop`."""
        self._rounds.start()

    async def stop(self) -> None:
        """Stop filing (after the batch in progress) and close the connection."""
        await self._rounds.stop()
        self.close()

    def close(self) -> None:
        """Close the connection (of a filing not started, or stopped)."""
        self._database.close()

    async def _file_round(self) -> bool:
        return await asyncio.to_thread(self.file_now)
