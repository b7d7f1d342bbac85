"""Benchmark of the inbox queries: does counting an owner's unseen matches grow with the history?

    python bench/inbox_bench.py [--requests 5000] [--results 200] [--owners 10]

Fills a fresh history file (the node's schema) with ``--requests`` inbound
matches of ``--results`` results each, spread over ``--owners`` owners, plus
one outbound match of 50 results per five inbound ones; 1% of the results
are unseen. Then times, on that same file, the inbox count that every web
page shows and the inbox listing: the queries of this checkout beside the
one condition they replaced (both directions OR-ed, which SQLite answers by
reading every result); and marking the whole inbox seen, as now (unseen new
results only) and as before (every unseen result, new or not, which read all
results of the owner's patients), each rolled back after it is timed.
Prints medians of five runs and the load average; nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from synthetic import load_average, machine

from mme_node.services import history
from mme_node.stores.database import open_database

BEFORE = """
SELECT CASE q.direction WHEN 'inbound' THEN r.patient_id ELSE q.patient_id END AS patient,
    count(*)
FROM match_results r JOIN match_requests q ON q.pk = r.request_pk
WHERE r.seen_at IS NULL AND (
    (q.direction = 'inbound' AND r.owner = :owner)
    OR (q.direction = 'outbound' AND q.owner = :owner)
) AND r.new
GROUP BY patient
"""
"""The inbox count as it was before the per-direction arms (b305dab..76e3c6a)."""

BEFORE_LISTING = """
SELECT r.request_pk, r.score, r.patient_id, r.owner, r.patient_json
FROM match_results r JOIN match_requests q ON q.pk = r.request_pk
WHERE r.seen_at IS NULL AND (
    (q.direction = 'inbound' AND r.owner = :owner)
    OR (q.direction = 'outbound' AND q.owner = :owner)
) AND r.new
ORDER BY r.request_pk DESC, r.rank
"""

BEFORE_MARK_SEEN = (
    "UPDATE match_results SET seen_at = :now WHERE rowid IN ("
    + history._concerning_owner(
        "r.rowid", "r.seen_at IS NULL AND (:match IS NULL OR q.pk = :match)"
    )
    + ")"
)
"""Marking the inbox seen as it was up to f75ae59: every unseen result, new or not."""


def fill(path: Path, requests: int, results: int, owners: int) -> int:
    """The history file; returns how many results it holds."""
    rng = random.Random(1)
    db = open_database(path)
    total = 0
    try:
        db.execute("BEGIN")
        for pk in range(1, requests + 1):
            db.execute(
                "INSERT INTO match_requests (pk, direction, peer, created, query_patient_id, test)"
                " VALUES (?, 'inbound', 'peer', '2026-01-01T00:00:00+00:00', ?, 0)",
                (pk, f"Q{pk}"),
            )
            db.executemany(
                "INSERT INTO match_results (request_pk, rank, score, owner, patient_id, new,"
                " seen_at) VALUES (?, ?, 0.5, ?, ?, 1, ?)",
                [
                    (
                        pk,
                        rank,
                        f"clinic-{rng.randrange(owners)}",
                        f"P{rng.randrange(20_000)}",
                        None if rng.random() < 0.01 else "2026-01-02",
                    )
                    for rank in range(results)
                ],
            )
            total += results
        for pk in range(requests + 1, requests + requests // 5 + 1):
            db.execute(
                "INSERT INTO match_requests (pk, direction, peer, created, owner, patient_id,"
                " query_patient_id, test) VALUES (?, 'outbound', 'peer',"
                " '2026-01-01T00:00:00+00:00', ?, ?, ?, 0)",
                (pk, f"clinic-{pk % owners}", f"P{pk}", f"P{pk}"),
            )
            db.executemany(
                "INSERT INTO match_results (request_pk, rank, score, patient_id, patient_json,"
                " new, seen_at) VALUES (?, ?, 0.5, ?, '{}', 1, ?)",
                [
                    (pk, rank, f"R{rank}", None if rng.random() < 0.01 else "2026-01-02")
                    for rank in range(50)
                ],
            )
            total += 50
        db.execute("COMMIT")
    finally:
        db.close()
    return total


def median_ms(run: Callable[[], object]) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--results", type=int, default=200)
    parser.add_argument("--owners", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "history.sqlite3"
        total = fill(path, args.requests, args.results, args.owners)
        db = sqlite3.connect(path)
        owner = {"owner": "clinic-3"}

        def timed(query: str) -> float:
            return median_ms(lambda: db.execute(query, owner).fetchall())

        def timed_update(query: str) -> float:
            """An update's time; rolled back each time, so that every run marks the same rows."""

            def marked() -> None:
                db.execute("BEGIN")
                db.execute(query, {**owner, "match": None, "now": "2026-12-01"})
                db.execute("ROLLBACK")

            return median_ms(marked)

        print(f"{machine()}; {total:,} results, {args.owners} owners")
        for what, before, now in (
            ("inbox count (every page)", BEFORE, history._UNSEEN_COUNTS),
            ("inbox listing", BEFORE_LISTING, history._UNSEEN_NEW_RESULTS),
        ):
            print(
                f"{what}: before {timed(before):.1f} ms, now {timed(now):.1f} ms ({load_average()})"
            )
        print(
            f"mark the inbox seen: before {timed_update(BEFORE_MARK_SEEN):.1f} ms,"
            f" now {timed_update(history._MARK_SEEN):.1f} ms ({load_average()})"
        )
        db.close()


if __name__ == "__main__":
    main()
