"""What telling new results from old ones costs when a peer asks again about its patient.

    python bench/novelty_bench.py [--results 200] [--threads 50] [--matches 300] [--repeats 300]

Records ``--matches`` inbound matches of ``--results`` results each (drawn
from 10,000 patients) about ``--threads`` query patients, so that every
thread has earlier results; then, for one more answer about one of them,
times the lookup that flags each result new or not (inside the recording's
transaction) two ways, taking turns ``--repeats`` times in one process:

- **one statement** (this checkout, ``history._returned_before``): the
  answer's patients passed as JSON, an index lookup each inside SQLite;
- **a statement per result**: the same index lookup asked once per result
  from Python, as the history did before.

Both must flag the same results; the medians are printed. Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from synthetic import machine

from mme_node.services.history import (
    _RETURNED_AS_THIS,  # the per-result lookup, as before
    MatchHistory,
    RecordedMatch,
    RecordedResult,
    _returned_before,  # what is measured
)
from mme_node.stores.database import open_database, transaction

PATIENTS = 10_000

Flags = Callable[[sqlite3.Connection, int, Sequence[RecordedResult]], list[bool]]


def one_statement(
    db: sqlite3.Connection, thread: int, results: Sequence[RecordedResult]
) -> list[bool]:
    seen = _returned_before(db, thread, results)
    return [place not in seen for place in range(len(results))]


def statement_per_result(
    db: sqlite3.Connection, thread: int, results: Sequence[RecordedResult]
) -> list[bool]:
    flags = []
    for result in results:
        seen = db.execute(_RETURNED_AS_THIS, (thread, result.patient_id, result.owner))
        flags.append(seen.fetchone() is None)
    return flags


def answer(chance: random.Random, query: int, results: int) -> RecordedMatch:
    """An inbound match about the peer's patient ``Q<query>``."""
    return RecordedMatch(
        direction="inbound",
        peer="peer-x",
        created=datetime.datetime.now(datetime.UTC),
        query_patient_id=f"Q{query}",
        test=False,
        results=tuple(
            RecordedResult(0.5, f"P{patient:06d}", "clinic-a")
            for patient in chance.sample(range(PATIENTS), results)
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=int, default=200)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--matches", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    print(machine())
    chance = random.Random(1)
    ways: dict[str, Flags] = {
        "one statement": one_statement,
        "a statement per result": statement_per_result,
    }
    with tempfile.TemporaryDirectory(prefix="novelty-bench-") as directory:
        path = Path(directory) / "mme-node.sqlite3"
        history = MatchHistory(path)
        try:
            for number in range(args.matches):
                asyncio.run(history.record(answer(chance, number % args.threads, args.results)))
        finally:
            history.close()
        again = answer(chance, 0, args.results)
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        # Inside a write transaction, as when recording (nothing is written).
        with contextlib.closing(open_database(path)) as db, transaction(db, "IMMEDIATE"):
            (thread,) = db.execute(
                "SELECT pk FROM match_threads WHERE query_patient_id = 'Q0'"
            ).fetchone()
            flags = {name: flagged(db, thread, again.results) for name, flagged in ways.items()}
            if len(set(map(tuple, flags.values()))) != 1:
                raise SystemExit("the two ways flag different results")
            for _ in range(args.repeats):
                for name, flagged in ways.items():
                    started = time.perf_counter()
                    flagged(db, thread, again.results)
                    seconds[name].append(time.perf_counter() - started)
    old = sum(not new for new in flags["one statement"])
    print(
        f"{args.results} results asked again ({old} returned before), "
        f"{args.matches} matches about {args.threads} query patients recorded"
    )
    for name, measured in seconds.items():
        print(f"  {name:<24} {statistics.median(measured) * 1e3:6.3f} ms (median)")


if __name__ == "__main__":
    main()
