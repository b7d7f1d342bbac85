"""Benchmark of a live HPO switch: a served node of 100,000 patients under /match load.

    python bench/hpo_switch_bench.py [--patients 100000] [--clients 4]
                                     [--hpo-file ../shared/hpo/extra/hp-2026-02-16.obo.gz]
                                     [--probes 50]

Synthetic patients (6-10 annotated HPO terms and one gene each, as in
``match_bench.py``; 5 % of them also carry a 2025-01-16 term that 2026-02-16
replaces, 3 % a term only 2026-02-16 knows, so pending) are bulk-imported into
a fresh SQLite store, and a real ``mme-node serve`` is started on 127.0.0.1.
While ``--clients`` concurrent clients send ``POST /match`` without pause:

1. ``mme-node hpo load --hpo-file`` (not compiled yet: verify, compile,
   borrow the bundled annotations, compare every patient, record the switch)
   runs against the same data dir; the server must switch by itself;
2. ``mme-node hpo activate 2025-01-16`` rolls back (compiled: compare, record).

For each: failed requests, the longest request and p50/p99 during the switch
against before it, the time until the server answers with the new release
(from the command's start, and after the command returned: the server's own
background re-derivation and re-indexing of every patient), and the server's
RSS (sampled peak during the switch, and its high-water mark).

Then the change feed bound: ``--probes`` patients written one at a time by
this process (another process, to the server) into the data dir, each followed
by ``/match`` until the server returns it: the latency from the write's commit
to the server matching it.

Finally, in this process without load: the comparison of every patient under
both releases (the report) and ``Matcher.build_state`` of the new release
(derive and index every patient). Prints the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from match_bench import (
    GENE_POOL,
    MME_V1_0,
    OWNERS,
    Pools,
    ServedNode,
    annotated_terms,
    gene_pool,
    import_records,
    load_average,
    machine,
    synthetic_records,
)

from hpo import Release, ReleaseLibrary
from mme_node.matching.matcher import Matcher
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.model import Feature, PatientRecord
from mme_node.security import Role, TokenRegistry
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.services.release_report import compare_patient
from mme_node.stores import SQLitePatientStore

DEFAULT_HPO_FILE = Path(__file__).resolve().parents[2] / "shared/hpo/extra/hp-2026-02-16.obo.gz"
REPLACED_SHARE = 0.05
PENDING_SHARE = 0.03


def changing_terms(old: Release, new: Release) -> tuple[list[str], list[str]]:
    """Terms of ``old`` that ``new`` replaces, and terms only ``new`` knows."""
    replaced = [t for t in old.ontology.ids if t not in new.ontology]
    newer = [t for t in new.ontology.ids if t not in old.ontology and t.startswith("HP:")]
    return replaced, newer


def mixed_records(
    pools: Pools, replaced: list[str], newer: list[str], count: int
) -> Iterator[PatientRecord]:
    """``match_bench`` patients, some with a term the switch replaces or a pending one."""
    chance = random.Random(count)
    for record in synthetic_records(pools, count, seed=count):
        draw = chance.random()
        extra = (
            chance.choice(replaced)
            if draw < REPLACED_SHARE
            else chance.choice(newer)
            if draw < REPLACED_SHARE + PENDING_SHARE
            else None
        )
        if extra is None:
            yield record
            continue
        features = (*record.patient.features, Feature(extra, pending=extra in newer))
        yield dataclasses.replace(record, patient=record.patient.replace(features=features))


class Load:
    """``clients`` concurrent /match senders in a thread; every request's start, end, status."""

    def __init__(self, url: str, token: str, pools: Pools, clients: int) -> None:
        self.url, self.token, self.pools, self.clients = url, token, pools, clients
        self.requests: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        headers = {"X-Auth-Token": self.token, "Content-Type": MME_V1_0, "Accept": MME_V1_0}
        limits = httpx.Limits(max_connections=self.clients)
        async with httpx.AsyncClient(
            base_url=self.url, headers=headers, limits=limits, timeout=120
        ) as client:
            await asyncio.gather(*(self._worker(client, seed) for seed in range(self.clients)))

    async def _worker(self, client: httpx.AsyncClient, seed: int) -> None:
        chance = random.Random(seed)
        number = 0
        while not self._stop.is_set():
            body = {
                "patient": {
                    "id": f"Q{seed}-{number}",
                    "contact": {"name": "Dr Peer", "href": "https://peer.example.org/"},
                    "features": [{"id": t} for t in chance.sample(self.pools.terms, 10)],
                    "genomicFeatures": [{"gene": {"id": chance.choice(self.pools.genes).symbol}}],
                }
            }
            number += 1
            started = time.monotonic()
            try:
                status = (await client.post("/match", content=json.dumps(body))).status_code
            except httpx.HTTPError:
                status = 0
            self.requests.append((started, time.monotonic(), status))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=180)


class Watch:
    """Polls the server's heartbeat (release served) and RSS every 50 ms in a thread."""

    def __init__(self, node: ServedNode, token: str) -> None:
        self.node, self.token = node, token
        self.releases: list[tuple[float, str]] = []
        self.rss: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.node.url, headers={"X-Auth-Token": self.token}) as http:
            while not self._stop.is_set():
                now = time.monotonic()
                try:
                    beat = http.get("/heartbeat", timeout=30).json()["heartbeat"]
                    self.releases.append((now, beat["_hpoRelease"]))
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                self.rss.append((now, memory(self.node.process.pid, "VmRSS")))
                time.sleep(0.05)

    def first_serving(self, version: str, after: float) -> float:
        for moment, release in self.releases:
            if moment >= after and release == version:
                return moment
        return float("nan")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def memory(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cli(data_dir: Path, hpo_dir: Path, *args: str) -> tuple[float, str]:
    environment = os.environ | {"MME_DATA_DIR": str(data_dir), "MME_HPO_DIR_OVERRIDE": str(hpo_dir)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mme_node.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"mme-node {' '.join(args)} failed:\n{done.stderr}")
    return time.monotonic() - started, done.stdout


def quantiles(durations: list[float]) -> str:
    if len(durations) < 2:
        return "n/a"
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    worst = max(durations)
    return f"p50 {cuts[49] * 1e3:.0f} ms, p99 {cuts[98] * 1e3:.0f} ms, max {worst * 1e3:.0f} ms"


def switch(
    label: str,
    node: ServedNode,
    load: Load,
    watch: Watch,
    version: str,
    command: list[str],
    data_dir: Path,
    hpo_dir: Path,
) -> None:
    settle = time.monotonic()
    time.sleep(5)  # a quiet stretch of load before, to compare with
    begin = time.monotonic()
    took, output = cli(data_dir, hpo_dir, *command)
    returned = begin + took
    deadline = time.monotonic() + 600
    while math.isnan(serving := watch.first_serving(version, begin)):
        if time.monotonic() > deadline:
            raise SystemExit(f"the server never served {version}; see {node.log}")
        time.sleep(0.1)
    time.sleep(3)
    during = [r for r in load.requests if r[1] >= begin and r[0] <= serving + 1]
    before = [r for r in load.requests if settle <= r[0] and r[1] < begin]
    failed = [r for r in load.requests if r[0] >= settle and r[2] != 200]
    rss = [mb for moment, mb in watch.rss if begin <= moment <= serving + 1]
    print(f"\n{label}: mme-node {' '.join(command)}")
    for line in output.splitlines():
        if line.startswith(("patients:", "information content:", "HPO release")):
            print(f"  | {line}")
    print(f"  requests before: {len(before)} ({quantiles([e - s for s, e, _ in before])})")
    print(f"  requests during: {len(during)} ({quantiles([e - s for s, e, _ in during])})")
    print(f"  failed requests (since 5 s before): {len(failed)}")
    print(
        f"  the command took {took:.1f} s; the server answered with {version} "
        f"{serving - begin:.1f} s after it started, {serving - returned:.1f} s after it returned"
    )
    print(
        f"  server RSS during the switch: peak {max(rss, default=float('nan')):.0f} MB "
        f"(before: {watch.rss[0][1]:.0f} MB at start-up end)"
    )


async def probe_feed(
    data_dir: Path, node: ServedNode, token: str, pools: Pools, probes: int
) -> list[float]:
    """Write patients from this process; the delay until the server's /match returns each."""
    store = SQLitePatientStore(data_dir / "mme-node.sqlite3")
    await store.open()
    pseudonyms = Pseudonyms.in_data_dir(data_dir)
    chance = random.Random(probes)
    headers = {"X-Auth-Token": token, "Content-Type": MME_V1_0, "Accept": MME_V1_0}
    delays = []
    try:
        async with httpx.AsyncClient(base_url=node.url, headers=headers, timeout=60) as http:
            for number in range(probes):
                terms = chance.sample(pools.terms, 8)
                records = list(synthetic_records(pools, 1, seed=10_000_000 + number))
                patient = records[0].patient.replace(
                    id=f"probe-{number}", features=tuple(Feature(t) for t in terms), test=True
                )
                record = PatientRecord(OWNERS[0], patient, "2025-01-16", "{}")
                shown = pseudonyms.pseudonym("bench-peer", OWNERS[0], patient.id)
                query = {
                    "patient": {
                        "id": f"probe-query-{number}",
                        "contact": {"name": "Dr Peer", "href": "https://peer.example.org/"},
                        "features": [{"id": t} for t in terms],
                        "test": True,
                    }
                }
                # A random pause, else each write lands at the same phase of the poll.
                await asyncio.sleep(chance.uniform(0, 0.3))
                await store.save(record)
                written = time.monotonic()
                while True:
                    answer = (await http.post("/match", content=json.dumps(query))).json()
                    if any(r["patient"]["id"] == shown for r in answer["results"]):
                        break
                    if time.monotonic() - written > 30:
                        raise SystemExit(f"probe {number} never matched")
                delays.append(time.monotonic() - written)
    finally:
        await store.close()
    return delays


async def in_process(data_dir: Path, old: Release, new: Release) -> None:
    store = SQLitePatientStore(data_dir / "mme-node.sqlite3")
    await store.open()
    try:
        started = time.perf_counter()
        records = [record async for record in store.iter_records()]
        read = time.perf_counter() - started
        started = time.perf_counter()
        changed = sum(compare_patient(record, old, new) is not None for record in records)
        compared = time.perf_counter() - started
        del records
        matcher = Matcher(Serving.of(new), store, ScoringWeights())
        started = time.perf_counter()
        state = await matcher.build_state(new)
        built = time.perf_counter() - started
    finally:
        await store.close()
    print(
        f"\nin this process, no load: read and decode every patient {read:.1f} s; compare "
        f"under both releases {compared:.1f} s ({changed} to report); build_state of "
        f"{new.version} (read, derive, index {len(state.index):,}) {built:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--hpo-file", type=Path, default=DEFAULT_HPO_FILE)
    parser.add_argument("--probes", type=int, default=50)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="hpo-switch-bench-") as directory:
        work = Path(directory)
        hpo_dir, scratch = work / "hpo", work / "scratch-hpo"
        old = ReleaseLibrary(hpo_dir).active()
        # The new release's terms, from a scratch library (the node's stays uncompiled).
        scratch_library = ReleaseLibrary(scratch)
        scratch_library.bundled()
        new_info = scratch_library.compile(args.hpo_file, borrow_annotations=True)
        new = scratch_library.release(new_info.key)
        replaced, newer = changing_terms(old, new)
        pools = Pools(terms=annotated_terms(old), genes=gene_pool(GENE_POOL, seed=1))
        data_dir = work / "node"
        data_dir.mkdir()
        imported = asyncio.run(
            import_records(data_dir, mixed_records(pools, replaced, newer, args.patients))
        )
        print(
            f"{args.patients:,} patients imported in {imported:.1f} s ({len(replaced)} terms of "
            f"{old.version} replaced in {new.version}, {len(newer)} new terms)"
        )
        with TokenRegistry(data_dir / "mme-node.sqlite3") as registry:
            token = registry.create("bench-peer", Role.PEER)
            admin = registry.create("bench-curator", Role.ADMIN)  # its heartbeat names the release
        node = ServedNode(data_dir, hpo_dir)
        try:
            print(f"server ready in {node.wait_ready(token):.1f} s")
            watch = Watch(node, admin)
            watch.start()
            load = Load(node.url, token, pools, args.clients)
            load.start()
            switch(
                "upgrade",
                node,
                load,
                watch,
                new.version,
                ["hpo", "load", str(args.hpo_file)],
                data_dir,
                hpo_dir,
            )
            switch(
                "rollback",
                node,
                load,
                watch,
                old.version,
                ["hpo", "activate", old.version],
                data_dir,
                hpo_dir,
            )
            load.stop()
            watch.stop()
            total = len(load.requests)
            failed = sum(status != 200 for _, _, status in load.requests)
            print(
                f"\nall requests: {total}, failed {failed}; server RSS high-water mark "
                f"{memory(node.process.pid, 'VmHWM'):.0f} MB"
            )
            delays = asyncio.run(probe_feed(data_dir, node, token, pools, args.probes))
            print(
                f"change feed, write in another process -> matched by the server: "
                f"{quantiles(delays)} over {len(delays)} writes"
            )
        finally:
            node.stop()
        asyncio.run(in_process(data_dir, old, new))
    print(f"\nat the end: {load_average()}")


if __name__ == "__main__":
    main()
