"""Benchmark of the embedded SQLite patient store: bulk import, reads, replaces, full scan.

    python bench/store_bench.py [--patients 100000] [--operations 3000]

Builds synthetic patients (about 8 HPO terms and 1-2 genes with a variant
each, the size of a typical MME case), imports them into a fresh SQLite file
with the node's durability settings (WAL, ``synchronous=FULL``), then times
single ``get`` and ``save`` (replace with expected version) calls through the
async API, and a full ``iter_records`` scan (what rebuilding a match index
costs). Prints the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path

from mme_node.model import (
    Contact,
    Feature,
    Gene,
    GenomicFeature,
    Patient,
    PatientRecord,
    Variant,
)
from mme_node.stores import SQLitePatientStore

OWNERS = ("clinic-a", "clinic-b", "clinic-c")
CONTACT = Contact(name="Dr Bench", href="mailto:bench@example.org", institution="Bench Lab")


def synthetic_record(number: int, rng: random.Random) -> PatientRecord:
    """A plausible case: ~8 phenotype terms (one excluded), 1-2 genes with a variant."""
    terms = rng.sample(range(1, 700_000), rng.randint(6, 10))
    features = tuple(
        Feature(f"HP:{term:07d}", observed=index != 0) for index, term in enumerate(terms)
    )
    genomic_features = tuple(
        GenomicFeature(
            gene=Gene(id=f"GENE{gene}", hgnc_id=f"HGNC:{gene}", symbol=f"GENE{gene}"),
            variant=Variant(
                assembly="GRCh38",
                reference_name=str(rng.randint(1, 22)),
                start=(start := rng.randint(1, 200_000_000)),
                end=start + 1,
                reference_bases="C",
                alternate_bases="T",
            ),
            zygosity=rng.choice((1, 2)),
        )
        for gene in rng.sample(range(1, 45_000), rng.randint(1, 2))
    )
    patient = Patient(
        id=f"P{number:08d}",
        contact=CONTACT,
        label=f"bench case {number}",
        features=features,
        genomic_features=genomic_features,
    )
    return PatientRecord(
        owner=OWNERS[number % len(OWNERS)],
        patient=patient,
        hpo_release="2024-04-26",
        submitted_json=f'{{"id": "{patient.id}", "features": []}}',
    )


def synthetic_records(count: int, seed: int) -> Iterator[PatientRecord]:
    rng = random.Random(seed)
    return (synthetic_record(number, rng) for number in range(count))


def percentiles(samples: list[float]) -> str:
    """p50 / p95 / p99 of ``samples`` (seconds) in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1e3:.3f} ms  p95 {cuts[94] * 1e3:.3f} ms  p99 {cuts[98] * 1e3:.3f} ms"


async def latency(operation: Awaitable[object]) -> float:
    """Seconds until ``operation`` (a coroutine not yet started) completes."""
    started = time.perf_counter()
    await operation
    return time.perf_counter() - started


async def run(directory: Path, patients: int, operations: int, batch_size: int) -> None:
    store = SQLitePatientStore(directory / "bench.sqlite3", batch_size=batch_size)
    await store.open()
    try:
        started = time.perf_counter()
        generated = sum(1 for _ in synthetic_records(patients, seed=1))
        elapsed = time.perf_counter() - started
        print(
            f"generation only  {generated} patients in {elapsed:.2f} s: "
            f"{generated / elapsed:,.0f} patients/s (included in the import figure)"
        )

        started = time.perf_counter()
        report = await store.import_many(synthetic_records(patients, seed=1))
        elapsed = time.perf_counter() - started
        print(
            f"bulk import      {report.imported} patients in {elapsed:.2f} s: "
            f"{report.imported / elapsed:,.0f} patients/s (batch {batch_size}, "
            f"{len(report.rejected)} rejected)"
        )

        rng = random.Random(2)
        picks = [synthetic_record(rng.randrange(patients), rng) for _ in range(operations)]
        gets = [await latency(store.get(*record.key)) for record in picks]
        print(f"get              {operations} ops  {percentiles(gets)}")

        versions = {record.key: (await store.get(*record.key)).version for record in picks}
        replaces = []
        for record in picks:
            replaces.append(await latency(store.save(record, versions[record.key])))
            versions[record.key] += 1
        print(f"replace          {operations} ops  {percentiles(replaces)}")

        started = time.perf_counter()
        scanned = 0
        async for _ in store.iter_records():
            scanned += 1
        elapsed = time.perf_counter() - started
        print(
            f"iter_records     {scanned} patients in {elapsed:.2f} s: "
            f"{scanned / elapsed:,.0f} patients/s"
        )
        size = sum(f.stat().st_size for f in directory.iterdir())
        print(f"database size    {size / 1e6:.1f} MB ({size / max(scanned, 1):,.0f} bytes/patient)")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--operations", type=int, default=3_000)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--directory", type=Path, help="where to create the file (default: temp)")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.machine()}"
    )
    if args.directory is not None:
        args.directory.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args.directory, args.patients, args.operations, args.batch_size))
        return
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run(Path(directory), args.patients, args.operations, args.batch_size))


if __name__ == "__main__":
    main()
