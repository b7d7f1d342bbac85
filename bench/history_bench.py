"""Benchmark of the match history: does recording a match cost more as the history grows?

    python bench/history_bench.py [--queries 10000] [--results 200] [--patients 7882]
                                  [--baseline b305dab | --no-baseline]

Records ``--queries`` inbound matches of ``--results`` results each (what a
node with ``--patients`` patients answers a peer asking for that many) into a
fresh history file, with the node's durability settings, and prints the time
of every block of 1,000. Results are drawn at random from the patients, so
each patient gathers a long history of earlier results; one query in ten
repeats an earlier query patient, so some results are not new. The same run
is then made with the ``--baseline`` commit (unpacked with ``git archive``,
imported through ``PYTHONPATH``) so that both appear side by side. Prints the
figures and the load average next to each block; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import tempfile
import time
from pathlib import Path

from baseline import BEFORE_SCALING, child_output, unpacked

BLOCK = 1_000
OWNERS = ("clinic-a", "clinic-b", "clinic-c")


async def record_blocks(path: Path, queries: int, results: int, patients: int) -> None:
    """Record the matches; print one JSON line per block (seconds, results marked new)."""
    # Imported here: the package is whichever version PYTHONPATH points at.
    from mme_node.services.history import MatchHistory, RecordedMatch, RecordedResult

    chance = random.Random(7)
    history = MatchHistory(path)
    started, new = time.perf_counter(), 0
    try:
        for number in range(queries):
            asker = chance.randrange(number) if number and chance.random() < 0.1 else number
            picked = chance.sample(range(patients), results)
            match = RecordedMatch(
                direction="inbound",
                peer="peer-x",
                created=datetime.datetime.now(datetime.UTC),
                query_patient_id=f"Q{asker}",
                test=False,
                results=tuple(
                    RecordedResult(0.5, f"P{p:06d}", OWNERS[p % len(OWNERS)]) for p in picked
                ),
            )
            recorded = await history.record(match)
            new += sum(result.new for result in recorded.results)
            if (number + 1) % BLOCK == 0:
                elapsed = time.perf_counter() - started
                print(json.dumps({"seconds": elapsed, "new": new, "load": os.getloadavg()[0]}))
                started, new = time.perf_counter(), 0
    finally:
        history.close()


def run_version(label: str, tree: Path | None, args: argparse.Namespace) -> list[dict[str, float]]:
    """One run in a child process importing mme_node from ``tree`` (None: this checkout)."""
    with tempfile.TemporaryDirectory(prefix="history-bench-") as directory:
        printed = child_output(
            tree,
            __file__,
            "--measure",
            str(Path(directory) / "mme-node.sqlite3"),
            "--queries",
            str(args.queries),
            "--results",
            str(args.results),
            "--patients",
            str(args.patients),
        )
    blocks = [json.loads(line) for line in printed.splitlines()]
    for number, block in enumerate(blocks, start=1):
        print(
            f"  {label:>9}  block {number:2d}: {block['seconds']:7.2f} s "
            f"({block['seconds'] / BLOCK * 1e3:6.2f} ms per match), "
            f"{int(block['new']):7,d} results new, load {block['load']:.2f}"
        )
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--results", type=int, default=200)
    parser.add_argument("--patients", type=int, default=7_882)
    parser.add_argument("--baseline", default=BEFORE_SCALING, help="commit to compare with")
    parser.add_argument("--no-baseline", action="store_true", help="measure this checkout only")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        asyncio.run(record_blocks(args.measure, args.queries, args.results, args.patients))
        return
    print(
        f"{datetime.date.today()}: {args.queries:,} inbound matches of {args.results} results "
        f"drawn from {args.patients:,} patients, blocks of {BLOCK:,}; "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )
    runs = {"this": run_version("this", None, args)}
    if not args.no_baseline:
        with unpacked(args.baseline) as tree:
            runs[args.baseline] = run_version(args.baseline, tree, args)
    for label, blocks in runs.items():
        first, last = blocks[0]["seconds"], blocks[-1]["seconds"]
        print(f"{label:>9}: first block {first:.2f} s, last {last:.2f} s ({last / first:.2f}x)")


if __name__ == "__main__":
    main()
