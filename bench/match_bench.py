"""Benchmark of matching: /match latency and throughput on a served node, and in-process ranking.

    python bench/match_bench.py [--sizes 10000 100000] [--in-process 1000000]
                                [--requests 300] [--concurrency 16] [--seconds 10]
                                [--negatives 0 10] [--without-genes] [--baseline REV]

For every size in ``--sizes``: synthetic patients (about 8 annotated HPO
terms and one gene from a pool of real HGNC genes each, 5 % of them test
patients) are bulk-imported straight into a fresh SQLite store, a peer token
is registered, and a real ``mme-node serve`` subprocess is started on
127.0.0.1 with that data directory and a shared compiled HPO release. Then:

* sequential ``POST /match`` latency (p50/p95/p99) over ``--requests``
  random queries of about 10 terms and one gene, on one keep-alive connection;
* throughput with ``--concurrency`` concurrent requests for ``--seconds``.

The node applies responsible sharing as a real one does: 20 % of the patients
consent to peers in GB only, 10 % to this node only, the rest to every peer
(the default), and the benchmark's peer is registered in the US; every answer
is pseudonymised and audited. With ``--baseline REV`` the same patients are
also served by the code of git revision ``REV`` (its tree exported beside,
run with ``PYTHONPATH``), and both nodes are measured side by side in the same
run, their requests interleaved, so the shared machine's noise falls on both.

Finally ``--in-process`` patients are put into a match index directly (one
``ProfileMatrix.from_csr``) and ``Matcher.rank`` is timed alone: the scoring
cost without HTTP, JSON, authentication or store reads: the learned phenotype
model and ``blend`` side by side, and the learned model for a peer for whom
30 % of the patients are masked out by their consent, query by query. With
``--baseline REV`` each in-process block is followed by the same block run by
``REV``'s code in a process of its own (same seeds, same index and queries).
Prints the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
from synthetic import (
    CONTACT,
    GENE_POOL,
    MME_V1_0,
    OWNERS,
    Pools,
    annotated_terms,
    free_port,
    gene_pool,
    load_average,
    machine,
    milliseconds,
    query_json,
    synthetic_records,
    timed_matches,
)

from hpo import ProfileMatrix, Release, ReleaseLibrary
from mme_node.matching.columns import value_hash
from mme_node.matching.index import MatchIndex, Partition, matrix_key
from mme_node.matching.matcher import Matcher
from mme_node.matching.phenotype import BLEND, DEFAULT_MODEL
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving, ServingState
from mme_node.model import Feature, Gene, GenomicFeature, Patient, PatientRecord
from mme_node.security import Role, TokenRegistry
from mme_node.stores import SQLitePatientStore

PEER_TOKEN = "bench-peer"
TOKEN_FILE = "bench-peer.token"
"""Where ``--fill`` leaves the peer's token for the benchmark to send."""
PEER_COUNTRY = "US"
CONSENTS_BY_LAST_DIGIT = {
    7: '{"sharing":"countries","disclosure":"genes","countries":["GB"]}',
    8: '{"sharing":"countries","disclosure":"genes","countries":["GB"]}',
    9: '{"sharing":"local","disclosure":"variants"}',
}
"""Consents set on patients by the last digit of their row number (the rest: the default)."""


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def fill_store(data_dir: Path, pools: Pools, count: int) -> float:
    return await import_records(data_dir, synthetic_records(pools, count, seed=count))


async def import_records(data_dir: Path, records: Iterable[PatientRecord]) -> float:
    """Bulk-import ``records`` into the data dir's SQLite store; the seconds it took."""
    store = SQLitePatientStore(data_dir / "mme-node.sqlite3")
    await store.open()
    try:
        started = time.perf_counter()
        report = await store.import_many(records)
        if report.rejected:
            raise SystemExit(f"{len(report.rejected)} synthetic patients rejected")
        return time.perf_counter() - started
    finally:
        await store.close()


class ServedNode:
    """A ``mme-node serve`` subprocess on 127.0.0.1, stopped on exit."""

    def __init__(self, data_dir: Path, hpo_dir: Path, extra: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "serve.log"
        environment = os.environ | {
            "MME_DATA_DIR": str(data_dir),
            "MME_HPO_DIR_OVERRIDE": str(hpo_dir),
            "MME_HOST": "127.0.0.1",
            "MME_PORT": str(self.port),
            "MME_RATE_LIMIT_MATCH": "0",  # throughput is measured, not a peer's fair share
            **(extra or {}),
        }
        arguments = [sys.executable, "-m", "mme_node.cli"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*arguments, "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, token: str, timeout: float = 900) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"the node exited; see {self.log}")
            try:
                answer = httpx.get(
                    f"{self.url}/heartbeat", headers={"X-Auth-Token": token}, timeout=2
                )
                if answer.status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the node did not start within {timeout} s; see {self.log}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def sequential_latencies(
    node: ServedNode, token: str, pools: Pools, requests: int, seed: int = 0
) -> tuple[list[float], int]:
    return timed_matches(node.url, token, pools, requests, seed)


async def throughput(
    node: ServedNode, token: str, pools: Pools, concurrency: int, seconds: float
) -> tuple[int, int, float]:
    headers = {"X-Auth-Token": token, "Content-Type": MME_V1_0, "Accept": MME_V1_0}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    done = 0
    failed = 0
    async with httpx.AsyncClient(
        base_url=node.url, headers=headers, limits=limits, timeout=60
    ) as client:
        deadline = time.perf_counter() + seconds

        async def worker(seed: int) -> None:
            nonlocal done, failed
            chance = random.Random(seed)
            number = 0
            while time.perf_counter() < deadline:
                body = json.dumps(query_json(pools, chance, number))
                number += 1
                answer = await client.post("/match", content=body)
                if answer.status_code == 200:
                    done += 1
                else:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(seed) for seed in range(concurrency)))
        return done, failed, time.perf_counter() - started


@dataclass
class Version:
    """One version of the node under test: its code (None: this checkout) and data dir."""

    name: str
    data_dir: Path
    code: Path | None = None

    @property
    def token(self) -> str:
        return (self.data_dir / TOKEN_FILE).read_text()

    def environment(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.code)} if self.code is not None else {}


def export_revision(revision: str, target: Path) -> Path:
    """The packages and settings of git ``revision``, exported into ``target``."""
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision, "mme_node", "hpo", "config"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def prepare(version: Version, size: int) -> float:
    """Fill the version's store (with its own code) and register the benchmark's peer token."""
    version.data_dir.mkdir()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--fill", str(version.data_dir), "--fill-size", str(size)],
        env=os.environ | version.environment(),
        check=True,
    )
    return time.perf_counter() - started


def share_responsibly(data_dir: Path) -> None:
    """Consents on 30 % of the patients and the peer's policy, as docs/governance.md sets them."""
    # Imported here: the module-level imports are those a baseline revision has too.
    from mme_node.peers import Peer, PeerRegistry

    with sqlite3.connect(data_dir / "mme-node.sqlite3") as database:
        for digit, consent in CONSENTS_BY_LAST_DIGIT.items():
            database.execute("UPDATE patients SET consent = ? WHERE pk % 10 = ?", (consent, digit))
    PeerRegistry.in_data_dir(data_dir).add(
        Peer(
            name="bench-peer-node",
            base_url="http://127.0.0.1:9",
            token="fake-outbound-token",
            country=PEER_COUNTRY,
            enabled=False,
            inbound_token_name=PEER_TOKEN,
        )
    )


def fill(data_dir: Path, size: int) -> None:
    """``--fill``: run by each version's own code (see :func:`prepare`)."""
    release = ReleaseLibrary(Path(os.environ["MME_HPO_DIR_OVERRIDE"])).active()
    pools = Pools(terms=annotated_terms(release), genes=gene_pool(GENE_POOL, seed=1))
    asyncio.run(fill_store(data_dir, pools, size))
    with TokenRegistry(data_dir / "mme-node.sqlite3") as registry:
        token = registry.create(PEER_TOKEN, Role.PEER)
    (data_dir / TOKEN_FILE).write_text(token)


def bench_served(work: Path, hpo_dir: Path, pools: Pools, size: int, args: Any) -> None:
    versions = [Version("this version", work / f"node-{size}")]
    if args.baseline:
        code = work / "baseline-code"
        if not code.exists():
            export_revision(args.baseline, code)
        versions.append(Version(f"baseline {args.baseline}", work / f"baseline-{size}", code))
    os.environ["MME_HPO_DIR_OVERRIDE"] = str(hpo_dir)
    imported = {version.name: prepare(version, size) for version in versions}
    share_responsibly(versions[0].data_dir)
    nodes = [ServedNode(v.data_dir, hpo_dir, v.environment()) for v in versions]
    try:
        print(f"\n{size:,} patients:")
        for version, node in zip(versions, nodes, strict=True):
            startup = node.wait_ready(version.token)
            print(
                f"  {version.name}: imported in {imported[version.name]:.1f} s; ready in "
                f"{startup:.1f} s, RSS {resident_mb(node.process.pid):.0f} MB"
            )
        latencies = interleaved_latencies(nodes, [v.token for v in versions], pools, args.requests)
        for version, (samples, results) in zip(versions, latencies, strict=True):
            print(
                f"  sequential /match  {version.name:<20} {args.requests} requests  "
                f"{milliseconds(samples)}  ({results / args.requests:.1f} results each)"
            )
        for version, node in zip(versions, nodes, strict=True):
            done, failed, elapsed = asyncio.run(
                throughput(node, version.token, pools, args.concurrency, args.seconds)
            )
            print(
                f"  concurrent /match  {version.name:<20} {args.concurrency} clients, "
                f"{elapsed:.1f} s: {done / elapsed:,.0f} requests/s ({done} ok, {failed} failed)"
            )
    finally:
        for node in nodes:
            node.stop()


def interleaved_latencies(
    nodes: list[ServedNode], tokens: list[str], pools: Pools, requests: int, block: int = 25
) -> list[tuple[list[float], int]]:
    """The same queries to every node, a block at a time in turn: one noise for all."""
    measured: list[tuple[list[float], int]] = [([], 0) for _ in nodes]
    for start in range(0, requests, block):
        for position, (node, token) in enumerate(zip(nodes, tokens, strict=True)):
            samples, results = sequential_latencies(
                node, token, pools, min(block, requests - start), seed=start
            )
            previous, count = measured[position]
            measured[position] = (previous + samples, count + results)
    return measured


def random_csr(
    chance: np.random.Generator, terms: npt.NDArray[np.int32], lengths: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Rows of ``lengths`` terms drawn from ``terms`` (duplicates are dropped by the matrix)."""
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return indptr, terms[chance.integers(0, len(terms), size=int(indptr[-1]))]


def synthetic_state(release: Release, pools: Pools, size: int, negatives: int) -> ServingState:
    """A serving state of ``size`` patients put into the index without a store.

    Each patient has 6-10 observed terms and, with ``negatives`` > 0, between
    0 and ``2 * negatives`` excluded ones (``negatives`` on average).
    """
    ontology = release.ontology
    chance = np.random.default_rng(size + negatives)
    term_indices = ontology.indices_of(pools.terms)
    keys = [matrix_key((OWNERS[n % 3], f"P{n:08d}")) for n in range(size)]
    observed = random_csr(chance, term_indices, chance.integers(6, 11, size=size))
    excluded_lengths = (
        chance.integers(0, 2 * negatives + 1, size=size)
        if negatives
        else np.zeros(size, dtype=np.int64)
    )
    excluded = random_csr(chance, term_indices, excluded_lengths)
    with_excluded = [
        (observed[1], np.repeat(np.arange(size), np.diff(observed[0]))),
        (excluded[1], np.repeat(np.arange(size), excluded_lengths)),
    ]
    picture_terms = np.concatenate([terms for terms, _ in with_excluded])
    picture_owner = np.concatenate([owner for _, owner in with_excluded])
    order = np.argsort(picture_owner, kind="stable")
    picture = (
        np.concatenate([[0], np.cumsum(np.bincount(picture_owner, minlength=size))]),
        picture_terms[order],
    )
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, (indptr, terms) in (("observed", observed), ("picture", picture)):
        matrix = ProfileMatrix.from_csr(ontology, keys, indptr, terms)  # sorted, distinct
        arrays[f"{name}.indptr"], arrays[f"{name}.values"] = matrix.csr
    excluded_matrix = ProfileMatrix.from_csr(ontology, keys, *excluded).csr
    arrays["excluded.indptr"] = excluded_matrix.indptr
    arrays["excluded.values"] = excluded_matrix.indices
    one_each = np.arange(size + 1, dtype=np.int64)
    genes = chance.integers(0, len(pools.genes), size=size)
    gene_hashes = np.array([value_hash(g.hgnc_id) for g in pools.genes], dtype=np.int64)
    nothing = np.zeros(size + 1, dtype=np.int64)
    arrays |= {
        "genes.indptr": one_each,
        "genes.values": gene_hashes[genes],
        "alleles.indptr": nothing,
        "alleles.values": np.zeros(0, dtype=np.int64),
        "disorders.indptr": nothing,
        "disorders.values": np.zeros(0, dtype=np.int64),
        "patient_ids.indptr": one_each,
        "patient_ids.values": np.array(
            [value_hash(f"P{n:08d}") for n in range(size)], dtype=np.int64
        ),
        "contacts": np.full(size, value_hash(CONTACT.href), dtype=np.int64),
        "owners": (np.arange(size) % len(OWNERS)).astype(np.int32),
        "reaches": np.zeros(size, dtype=np.int32),
    }
    index = MatchIndex(ontology)
    index.real = Partition.from_saved(ontology, arrays, keys, list(OWNERS))
    index.real.set_reaches(consent_reaches(index, size))
    return ServingState(release, index)


def consent_reaches(index: MatchIndex, size: int) -> npt.NDArray[np.int32]:
    """Reach numbers of ``size`` rows: 20 % GB only, 10 % this node only (as served)."""
    # Imported here: the module-level imports are those a baseline revision has too.
    from mme_node.security.consent import EVERY_PEER, THIS_NODE_ONLY, Reach

    everyone, gb, here = (
        index.reach_number(reach)
        for reach in (EVERY_PEER, Reach(peers=True, countries=frozenset({"GB"})), THIS_NODE_ONLY)
    )
    digits = np.arange(size) % 10
    numbers: npt.NDArray[np.int32] = np.select([digits >= 9, digits >= 7], [here, gb], everyone)
    return numbers


def bench_in_process(
    release: Release, pools: Pools, size: int, queries: int, negatives: int, genes: bool = True
) -> None:
    """``Matcher.rank`` over ``size`` patients, the learned model and ``blend`` side by side.

    Both scorers rank the same queries on the same index, alternately, so that
    other load on the machine weighs on both alike; the learned model also
    ranks each for a peer in the US, for whom 30 % of the patients are masked
    out by their consent.
    """
    from mme_node.security.consent import PeerScope

    started = time.perf_counter()
    state = synthetic_state(release, pools, size, negatives)
    built = time.perf_counter() - started
    store = SQLitePatientStore(Path(os.devnull))
    scorers = {
        name: Matcher(Serving(state), store, ScoringWeights(phenotype_model=name))
        for name in (DEFAULT_MODEL, BLEND)
    }
    runs = {name: (matcher, None) for name, matcher in scorers.items()}
    runs[f"{DEFAULT_MODEL} for a peer, 30 % masked"] = (
        scorers[DEFAULT_MODEL],
        PeerScope(PEER_COUNTRY),
    )
    picks = random.Random(size)
    timings: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for number in range(queries + 2):
        terms = picks.sample(pools.terms, 10 + negatives)
        query = Patient(
            id=f"Q{number}",
            contact=CONTACT,
            features=tuple(Feature(t) for t in terms[:10])
            + tuple(Feature(t, observed=False) for t in terms[10:]),
            genomic_features=(
                (GenomicFeature(Gene(id="x", hgnc_id=picks.choice(pools.genes).hgnc_id)),)
                if genes
                else ()
            ),
        )
        for name, (matcher, scope) in runs.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            matcher.rank(query, limit=5, scope=scope)
            if number >= 2:  # the first two warm caches
                timings[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - cpu_started)
    print(
        f"\nin-process Matcher.rank over {size:,} patients with {negatives} excluded terms on "
        f"average (index built in {built:.1f} s), {queries} queries of 10 observed + "
        f"{negatives} excluded terms + {'1 gene' if genes else 'no gene'}; {load_average()}"
    )
    for name, samples in timings.items():
        print(
            f"  {name:<36} median {statistics.median(samples) * 1e3:.0f} ms, "
            f"min {min(samples) * 1e3:.0f} ms, max {max(samples) * 1e3:.0f} ms; CPU median "
            f"{statistics.median(cpu[name]) * 1e3:.0f} ms, min {min(cpu[name]) * 1e3:.0f} ms",
            flush=True,
        )


def bench_in_process_baseline(
    work: Path, hpo_dir: Path, size: int, queries: int, negatives: int, args: Any
) -> None:
    """:func:`bench_in_process` run by git revision ``--baseline``'s code, right after ours.

    Its own process imports the baseline's packages (``PYTHONPATH``) and
    builds the same synthetic index and queries from the same seeds.
    """
    code = work / "baseline-code"
    if not code.exists():
        export_revision(args.baseline, code)
    print(f"\n  the same with baseline {args.baseline}:", flush=True)
    command = [sys.executable, __file__, "--sizes", "--in-process", str(size)]
    command += ["--negatives", str(negatives), "--queries", str(queries), "--hpo-dir", str(hpo_dir)]
    command += ["--without-genes"] if args.without_genes else []
    subprocess.run(command, env=os.environ | {"PYTHONPATH": str(code)}, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--in-process", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--queries", type=int, default=15, help="in-process queries per size")
    parser.add_argument(
        "--negatives",
        type=int,
        nargs="*",
        default=[0, 10],
        help="mean excluded terms per in-process patient (and per query), one run each",
    )
    parser.add_argument(
        "--without-genes",
        action="store_true",
        help="in-process queries without a gene (phenotype-only matching)",
    )
    parser.add_argument("--hpo-dir", type=Path, help="compiled releases to reuse (default: temp)")
    parser.add_argument(
        "--baseline", metavar="REV", help="also serve the same patients with git revision REV"
    )
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--fill-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill is not None:
        fill(args.fill, args.fill_size)
        return
    print(machine())
    with tempfile.TemporaryDirectory(prefix="match-bench-") as directory:
        work = Path(directory)
        hpo_dir = args.hpo_dir or work / "hpo"
        release = ReleaseLibrary(hpo_dir).active()
        pools = Pools(terms=annotated_terms(release), genes=gene_pool(GENE_POOL, seed=1))
        print(
            f"HPO {release.version}: {len(pools.terms)} annotated phenotype terms, "
            f"{len(pools.genes)} genes in the pool"
        )
        for size in args.sizes:
            bench_served(work, hpo_dir, pools, size, args)
        print(flush=True)
        for size in args.in_process:
            for negatives in args.negatives:
                bench_in_process(
                    release, pools, size, args.queries, negatives, not args.without_genes
                )
                if args.baseline:
                    bench_in_process_baseline(work, hpo_dir, size, args.queries, negatives, args)
    print(f"\nat the end: {load_average()}")


if __name__ == "__main__":
    main()
