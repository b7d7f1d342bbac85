"""What recording one answered ``/match`` costs: its history rows and audit entries.

    python bench/record_bench.py [--results 5 200] [--matches 400] [--rounds 3]
                                 [--baseline COMMIT] [--drop-index NAME ...]
                                 [--asked-before SHARE]

For each ``--results`` count, a child process records ``--matches`` inbound
matches of that many results drawn from 10,000 patients into a fresh data
dir, as ``MatchService.inbound`` records them: one history row and one
audit entry (with its chain hash) per result, all in one transaction synced
to disk. With ``--asked-before``, that share of the matches is about a
query patient an earlier match asked about (a peer asking again), so that
each result is looked up among that thread's earlier ones to know whether it
is new. It prints the process's CPU time per match (the worker thread's
included), after 50 matches to warm up; then, for a version that files
results and audit entries by patient late (schema 17,
``mme_node.stores.filing``), the CPU time per match of filing them all, as a
serving node does in the background. Each column is a child process of
its own, and the columns take turns, ``--rounds`` times, so that all see the
same machine. Nothing is asserted. The columns:

- this checkout;
- ``--baseline COMMIT`` (unpacked with ``git archive``, imported through
  ``PYTHONPATH``), if given;
- with ``--drop-index NAME``: this checkout again, with the named indexes
  dropped from its data dirs before recording. An experiment, not a
  configuration: it shows what keeping an index costs. (Before schema 17,
  ``match_results_by_patient_request`` and ``audit_by_subject`` filed every
  result by patient at once: dropping them showed what late filing saves.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baseline import child_output, unpacked

WARM_UP = 50
PATIENTS = 10_000
OWNERS = ("clinic-a", "clinic-b", "clinic-c")
PEER = "peer-x"


async def record_matches(
    data_dir: Path, results: int, matches: int, dropped: list[str], asked_before: float
) -> None:
    """Record the matches; print the CPU ms per match after the warm-up, as JSON."""
    # Imported here: the package is whichever version PYTHONPATH points at.
    from mme_node.security.audit import AuditEntry, AuditEvent, AuditLog
    from mme_node.security.keys import NodeKey
    from mme_node.security.pseudonyms import Pseudonyms
    from mme_node.services.history import MatchHistory, RecordedMatch, RecordedResult
    from mme_node.stores.database import SerialConnection

    database = data_dir / "mme-node.sqlite3"
    if dropped:
        schema = SerialConnection(database, "bench")  # created and migrated on first use
        with schema.transaction("IMMEDIATE") as db:
            for name in dropped:
                db.execute(f'DROP INDEX "{name}"')
        schema.close()
    key = NodeKey.in_data_dir(data_dir)
    pseudonyms = Pseudonyms(key)
    audit = AuditLog(database, key)
    history = MatchHistory(database, audit)
    late_filing = filing_of(database)
    chance = random.Random(results)
    again = random.Random(-results)  # apart, so that the results drawn stay the same
    try:
        for number in range(WARM_UP + matches):
            if number == WARM_UP:
                started = time.process_time()
            now = datetime.datetime.now(datetime.UTC)
            picked = [
                (OWNERS[p % len(OWNERS)], f"P{p:06d}")
                for p in chance.sample(range(PATIENTS), results)
            ]
            shown = [pseudonyms.pseudonym(PEER, owner, patient) for owner, patient in picked]
            entries = [
                AuditEntry(
                    AuditEvent.DISCLOSURE,
                    now,
                    actor=PEER,
                    recipient=PEER,
                    subject=pseudonyms.subject(owner, patient),
                    pseudonym=alias,
                    level="full",
                    score=0.5,
                    test=False,
                )
                for (owner, patient), alias in zip(picked, shown, strict=True)
            ]
            match = RecordedMatch(
                direction="inbound",
                peer=PEER,
                created=now,
                query_patient_id=f"Q{asked(again, number, asked_before)}",
                test=False,
                results=tuple(
                    RecordedResult(0.5, patient, owner, shown_as=alias, disclosure="full")
                    for (owner, patient), alias in zip(picked, shown, strict=True)
                ),
            )
            await history.record(match, entries)
        recorded = time.process_time()
        figures = {"cpu_ms": (recorded - started) / matches * 1e3}
        if late_filing is not None:
            late_filing.file_all()  # every match recorded, the warm-up's too
            filed = time.process_time() - recorded
            figures["filing_cpu_ms"] = filed / (WARM_UP + matches) * 1e3
        print(json.dumps(figures))
    finally:
        if late_filing is not None:
            late_filing.close()
        history.close()
        audit.close()


def asked(chance: random.Random, number: int, asked_before: float) -> int:
    """The query patient of match ``number``: for a share ``asked_before`` of the
    matches, one asked about before (a peer asking again: its results are looked up
    among that thread's earlier ones), else its own (0 is asked first, so it was)."""
    if number and asked_before and chance.random() < asked_before:
        return 0
    return number


def filing_of(database: Path) -> Any:
    """The version's late filing of history and audit by patient; None before schema 17."""
    try:
        from mme_node.security.audit import SUBJECTS_FILING
        from mme_node.services.history import RESULTS_FILING
        from mme_node.stores.filing import LateFiling
    except ImportError:
        return None
    return LateFiling(database, (RESULTS_FILING, SUBJECTS_FILING))


@dataclass(frozen=True)
class Variant:
    """What one column measures: a version of mme_node, maybe without some indexes."""

    label: str
    tree: Path | None
    """Where its ``mme_node`` is imported from (None: this checkout)."""
    dropped: tuple[str, ...] = ()


def run_variant(
    variant: Variant, results: int, matches: int, asked_before: float
) -> dict[str, float]:
    """CPU ms per match of ``variant`` recording (``cpu_ms``) and, if it files late,
    filing (``filing_cpu_ms``), in a child process of its own."""
    dropped = [option for name in variant.dropped for option in ("--drop-index", name)]
    dropped += ["--asked-before", str(asked_before)]
    with tempfile.TemporaryDirectory(prefix="record-bench-") as directory:
        printed = child_output(
            variant.tree, __file__, "--measure", directory, str(results), str(matches), *dropped
        )
    figures: dict[str, float] = json.loads(printed)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, nargs="*", default=[5, 200])
    parser.add_argument("--matches", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="a commit to compare with")
    parser.add_argument(
        "--drop-index",
        action="append",
        default=[],
        metavar="NAME",
        help="add a column: this checkout without that index (repeatable)",
    )
    parser.add_argument(
        "--asked-before",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the matches about a query patient asked about before (default 0)",
    )
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        directory, results, matches = args.measure
        asyncio.run(
            record_matches(
                Path(directory), int(results), int(matches), args.drop_index, args.asked_before
            )
        )
        return
    print(
        f"{datetime.date.today()}: {args.matches} inbound matches recorded per run, "
        f"{args.rounds} rounds, {args.asked_before:.0%} of them about a query patient asked"
        f" about before; load average {os.getloadavg()[0]:.2f} at the start"
    )
    with contextlib.ExitStack() as stack:
        variants = [Variant("this", None)]
        if args.baseline:
            variants.append(Variant(args.baseline, stack.enter_context(unpacked(args.baseline))))
        if args.drop_index:
            label = f"this without {', '.join(args.drop_index)}"
            variants.append(Variant(label, None, tuple(args.drop_index)))
        for results in args.results:
            runs: dict[Variant, list[dict[str, float]]] = {variant: [] for variant in variants}
            for _ in range(args.rounds):
                for variant in variants:
                    runs[variant].append(
                        run_variant(variant, results, args.matches, args.asked_before)
                    )
            print(f"{results} results, CPU per match: median (each run)")
            for variant, measured in runs.items():
                print(f"  {variant.label}")
                for name, what in (("cpu_ms", "recording"), ("filing_cpu_ms", "filing later")):
                    figures = [each[name] for each in measured if name in each]
                    if figures:
                        each = ", ".join(f"{figure:.2f}" for figure in figures)
                        print(f"    {what:<13} {statistics.median(figures):6.2f} ms ({each})")
        print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
