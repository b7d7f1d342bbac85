"""Benchmark of the audit trail's pages of one kind, with and without the index on the kind.

    python bench/audit_bench.py [--entries 100000] [--repeats 20]

Writes ``--entries`` disclosure entries and three erasures (a rare kind) into a
fresh node database through the audit log, then times, in the same run, a
copy of the file with the ``audit_by_event`` index dropped (what a node
before it read) and the file as this checkout leaves it: the newest page of
all entries, of disclosures, of erasures, and of a kind with no entry
(the admin page's worst case: the read finds nothing to stop at). Also
times building the index on the existing log (what the migration costs when
an older node's file is opened). Prints the median of ``--repeats`` reads
and the load average; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from synthetic import load_average, machine

from mme_node.security.audit import AuditEntry, AuditEvent, AuditLog
from mme_node.security.keys import NodeKey

BATCH = 5_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = (None, AuditEvent.DISCLOSURE, AuditEvent.ERASURE, AuditEvent.PEER_REMOVED)


def disclosure(number: int) -> AuditEntry:
    return AuditEntry(
        AuditEvent.DISCLOSURE,
        T0 + timedelta(seconds=number),
        actor="peer-x",
        recipient="peer-x",
        subject=f"s{number % 5000}",
        pseudonym=f"p{number}",
        level="genes",
        score=0.5,
        test=False,
    )


def write_log(log: AuditLog, entries: int) -> None:
    log.record_now(AuditEntry(AuditEvent.ERASURE, T0, actor="cli", subject="s-early"))
    for start in range(0, entries, BATCH):
        log.record_now(*(disclosure(n) for n in range(start, min(entries, start + BATCH))))
        if start == entries // 2:
            log.record_now(AuditEntry(AuditEvent.ERASURE, T0, actor="cli", subject="s-middle"))
    log.record_now(AuditEntry(AuditEvent.ERASURE, T0, actor="cli", subject="s-late"))


def median_page_ms(log: AuditLog, event: AuditEvent | None, repeats: int) -> float:
    asyncio.run(log.newest(limit=50, event=event))  # warm: the file's pages in the OS cache
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        asyncio.run(log.newest(limit=50, event=event))
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        key = NodeKey.in_data_dir(directory)
        indexed, unindexed = directory / "indexed.sqlite3", directory / "unindexed.sqlite3"
        log = AuditLog(indexed, key)
        write_log(log, args.entries)
        log.close()
        shutil.copy(indexed, unindexed)
        with sqlite3.connect(unindexed) as raw:
            raw.execute("DROP INDEX audit_by_event")
            raw.execute("VACUUM")
            started = time.perf_counter()
            raw.execute("CREATE INDEX rebuilt ON audit_log (json_extract(entry, '$.event'))")
            built = time.perf_counter() - started
            raw.execute("DROP INDEX rebuilt")
        raw.close()
        print(f"{args.entries + 3:,} entries; building the index on them: {built * 1000:.0f} ms")
        print(f"{'newest page of':<18}{'without index':>16}{'with index':>14}")
        logs = {name: AuditLog(path, key) for name, path in (("old", unindexed), ("new", indexed))}
        try:
            for event in KINDS:
                old = median_page_ms(logs["old"], event, args.repeats)
                new = median_page_ms(logs["new"], event, args.repeats)
                name = "all kinds" if event is None else event.value
                print(f"{name:<18}{old:>13.2f} ms{new:>11.2f} ms")
        finally:
            for opened in logs.values():
                opened.close()
    print(load_average())


if __name__ == "__main__":
    main()
