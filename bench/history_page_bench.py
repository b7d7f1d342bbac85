"""What showing one patient's match history costs: the whole of it, or a page at a time.

    python bench/history_page_bench.py [--matches 1000] [--results 100] [--repeats 7]
                                       [--baseline f75ae59] [--migration-results 500000]

1. A child process running ``--baseline`` (a version that read the whole
   history, ``MatchHistory.as_seen_by_owner``; unpacked with ``git archive``,
   imported through ``PYTHONPATH``) records ``--matches`` inbound matches of
   ``--results`` results each into a fresh file with ``record_many``, as the
   node records them. One patient of clinic-a (``TARGET``) is among the
   results of one inbound match in four; it is also the query of an
   outbound match every 50 matches, and another submitter's local match
   returns it every 100 (those are not shown to clinic-a). The child then
   times reading that patient's whole history, the old way.
2. This checkout opens a copy of that file (its schema migrations: 15 built
   a page index, which 17 replaced by filing every result by patient, as a
   serving node's late filing keeps doing) and times the newest page
   (``HISTORY_PAGE_SIZE`` matches) and the whole history walked page by page.
3. The migrations alone, on a file of ``--migration-results`` results at
   schema 14, written with plain SQL (recording them would take minutes):
   the time to open it with this checkout, which files them once.

Every time is the median of ``--repeats`` runs after one warm-up run, with
the file in the page cache. Prints a table and the load average; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from baseline import child_output, unpacked
from synthetic import load_average, machine

# Only names the baseline has too: the child imports this module under it.
from mme_node.services.history import MatchHistory
from mme_node.stores.database import MIGRATIONS, open_database

BASELINE = "f75ae59"
"""The last commit that read a patient's whole history (``as_seen_by_owner``)."""
OWNERS = ("clinic-a", "clinic-b", "clinic-c")
PATIENTS = 20_000
TARGET = ("clinic-a", "P-target")
BATCH = 100
"""Matches per ``record_many`` call while building the history."""


async def median_ms(repeats: int, run: Callable[[], Awaitable[object]]) -> float:
    """The median wall time of ``run``, in ms, after one warm-up run."""
    await run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def build_and_read_whole(path: Path, matches: int, results: int, repeats: int) -> None:
    """Step 1, in the baseline's child process: print its figures as JSON."""
    # Imported here: the package is whichever version PYTHONPATH points at.
    from mme_node.services.history import RecordedMatch, RecordedResult

    chance = random.Random(7)
    now = datetime.datetime.now(datetime.UTC)
    owner, target = TARGET

    def result(patient: int) -> RecordedResult:
        return RecordedResult(0.5, f"P{patient:06d}", OWNERS[patient % len(OWNERS)])

    def match(number: int) -> RecordedMatch:
        if number % 50 == 49:  # the target sent to a peer
            return RecordedMatch(
                "outbound",
                "peer-x",
                now,
                query_patient_id=target,
                test=False,
                owner=owner,
                patient_id=target,
                results=tuple(RecordedResult(0.5, f"R{n}", None, '{"id": "R"}') for n in range(10)),
            )
        found = [result(p) for p in chance.sample(range(PATIENTS), results)]
        if number % 4 == 0 or number % 100 == 99:
            found[chance.randrange(results)] = RecordedResult(0.9, target, owner)
        if number % 100 == 99:  # clinic-b's own local match found the target
            return RecordedMatch(
                "local",
                "local",
                now,
                query_patient_id=f"B{number}",
                test=False,
                owner="clinic-b",
                patient_id=f"B{number}",
                results=tuple(found),
            )
        return RecordedMatch(
            "inbound",
            "peer-x",
            now,
            query_patient_id=f"Q{number}",
            test=False,
            results=tuple(found),
        )

    history = MatchHistory(path)
    try:
        for first in range(0, matches, BATCH):
            await history.record_many([match(n) for n in range(first, min(first + BATCH, matches))])
        seen = await history.as_seen_by_owner(owner, target)
        whole = await median_ms(repeats, lambda: history.as_seen_by_owner(owner, target))
    finally:
        history.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        (stored,) = db.execute("SELECT count(*) FROM match_results").fetchone()
    print(json.dumps({"results": stored, "shown": len(seen), "whole_ms": whole}))


def baseline_figures(tree: Path, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    printed = child_output(
        tree,
        __file__,
        *("--build", str(path), str(args.matches), str(args.results)),
        *("--repeats", str(args.repeats)),
    )
    figures: dict[str, Any] = json.loads(printed)
    return figures


async def page_figures(path: Path, repeats: int, page_size: int) -> dict[str, float]:
    """Step 2: open (and migrate) the file, then time the newest page and the whole walk."""
    owner, target = TARGET
    started = time.perf_counter()
    open_database(path).close()
    migration = (time.perf_counter() - started) * 1000
    history = MatchHistory(path)

    async def walk() -> int:
        shown, before = 0, None
        while True:
            page = await history.history_page(owner, target, before, page_size)
            shown += len(page.matches)
            if (before := page.next_before) is None:
                return shown

    try:
        newest = await median_ms(
            repeats, lambda: history.history_page(owner, target, None, page_size)
        )
        walked = await median_ms(repeats, walk)
        shown = await walk()
    finally:
        history.close()
    return {"migration_ms": migration, "newest_ms": newest, "walk_ms": walked, "shown": shown}


def migration_ms(directory: Path, results: int) -> float:
    """Step 3: a schema-14 file of ``results`` results (100 per match), opened and migrated
    to this checkout's schema."""
    before = next(n for n, step in enumerate(MIGRATIONS) if "by_patient_request" in "".join(step))
    path = directory / "migration.sqlite3"
    chance = random.Random(3)
    with contextlib.closing(sqlite3.connect(path)) as db:
        for step in MIGRATIONS[:before]:
            for statement in step:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {before}")
        for pk in range(1, results // 100 + 1):
            db.execute(
                "INSERT INTO match_requests (pk, direction, peer, created, query_patient_id, test)"
                " VALUES (?, 'inbound', 'peer-x', '2026-01-01T00:00:00+00:00', ?, 0)",
                (pk, f"Q{pk}"),
            )
            db.executemany(
                "INSERT INTO match_results (request_pk, rank, score, owner, patient_id, new)"
                " VALUES (?, ?, 0.5, ?, ?, 1)",
                [
                    (pk, rank, OWNERS[p % len(OWNERS)], f"P{p:06d}")
                    for rank, p in enumerate(chance.sample(range(PATIENTS), 100))
                ],
            )
        db.commit()
    started = time.perf_counter()
    open_database(path).close()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=1_000)
    parser.add_argument("--results", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--migration-results", type=int, default=500_000)
    parser.add_argument("--build", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        path, matches, results = args.build
        asyncio.run(build_and_read_whole(Path(path), int(matches), int(results), args.repeats))
        return
    compare(args)


def compare(args: argparse.Namespace) -> None:
    """Steps 1 to 3, and the table."""
    from mme_node.services.history import HISTORY_PAGE_SIZE  # this checkout's only

    print(f"{machine()}; {args.repeats} repeats, medians")
    with tempfile.TemporaryDirectory(prefix="history-page-bench-") as name:
        directory = Path(name)
        with unpacked(args.baseline) as tree:
            old = baseline_figures(tree, directory / "old.sqlite3", args)
        shutil.copy(directory / "old.sqlite3", directory / "new.sqlite3")
        new = asyncio.run(page_figures(directory / "new.sqlite3", args.repeats, HISTORY_PAGE_SIZE))
        assert new["shown"] == old["shown"], (new, old)  # the same matches, by either way
        migration = migration_ms(directory, args.migration_results)
    print(
        f"{old['results']:,} results; {old['shown']} matches shown in the patient's history\n"
        f"| what | time |\n|---|---|\n"
        f"| whole history at once ({args.baseline}, as_seen_by_owner) | "
        f"{old['whole_ms']:.1f} ms |\n"
        f"| newest page of {HISTORY_PAGE_SIZE} (history_page) | {new['newest_ms']:.1f} ms |\n"
        f"| whole history in pages of {HISTORY_PAGE_SIZE} | {new['walk_ms']:.1f} ms |\n"
        f"| schema 14 to {len(MIGRATIONS)} on that file ({old['results']:,} results) | "
        f"{new['migration_ms']:.0f} ms |\n"
        f"| schema 14 to {len(MIGRATIONS)}, {args.migration_results:,} results | "
        f"{migration:.0f} ms |\n"
        f"{load_average()} at the end"
    )


if __name__ == "__main__":
    main()
