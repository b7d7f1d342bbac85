"""Serving at scale, end to end: import, start, /match over HTTP, memory per worker, disk.

    python bench/scale_bench.py [--sizes 10000 100000 1000000] [--workers 2] [--results 5 50]
        [--baseline b305dab | --no-baseline] [--baseline-workers 1] [--requests 200] [--seconds 20]
        [--connections 16] [--throughput-up-to 100000] [--phenotype-only] [--out results.json]
    python bench/scale_bench.py --restarts 5 --sizes 100000 --baseline COMMIT [--baseline-workers 2]
    python bench/scale_bench.py --paired 3 --sizes 10000 --results 5 200 --baseline COMMIT

For every size, this checkout and the ``--baseline`` commit (unpacked with
``git archive``, run through ``PYTHONPATH``: see :mod:`baseline`) each get
their own data dir and compiled HPO release, then in turn:

1. **import**: that many synthetic patients (about 8 annotated terms and one
   gene each, 5 % test patients) through the store's bulk import
   (``PatientStore.import_many``, what ``mme-node patients import`` calls);
2. **first start** of ``mme-node serve`` (this checkout: ``--workers``
   processes; the baseline ``--baseline-workers``, 1 by default: commits
   before ``serve --workers`` have one process), timed until every worker says
   "Application startup complete" and ``/heartbeat`` answers;
3. ``/match`` answering the first of ``--results`` (5): ``--requests``
   sequential queries on one keep-alive connection (p50/p95/p99), then, up to
   ``--throughput-up-to`` patients, ``wrk`` with ``--connections`` connections
   for ``--seconds``;
4. memory of every server process: RSS, PSS (shared pages divided among the
   processes sharing them, so summing PSS counts them once) and USS (pages
   of that process alone), from ``/proc/PID/smaps_rollup``;
5. for each further count of ``--results`` (50): a **restart** (SIGTERM, then
   start again) answering that many: start-up time, sequential latencies,
   memory;
6. disk: the SQLite file with its WAL, and the saved match index.

With ``--paired N`` only the cost of results is measured: one server per
count of ``--results`` (5 200, say), each on its own copy of one imported
data dir, queries sent to each in turn (the order swapped every other
query); p50/p95 per count, their ratio, and the median ratio of each
query's two times. N runs per version, the versions taking turns. The
``--warm-up`` queries before are not timed: the default few only open the
connections; a node that has served a while has its recently read patients
decoded and their answer texts made (both caches keep 8,192), which takes
some 400 queries of 200 results at 10,000 patients.

With ``--restarts N`` only start-up is measured: each version imports and
starts once (building and saving its index), then the versions restart in
turn, N times each, so that both see the same moments of a shared
machine. Each restart gives its wall time (until every worker started and
``/heartbeat`` answered) and its CPU time: user plus system time of every
process of the start (the supervisor, the workers, the process composing
the banner), taken once the banner is printed.

Queries have 8-12 annotated terms and one gene; with ``--phenotype-only`` they
have no gene, so no patient shares one and every profile's phenotype is
scored (the gene-first shortcut of ``Matcher._phenotype`` cannot apply).

The load generator runs on the same machine: queries from Python for
latencies, ``wrk`` (Debian package ``wrk``) for throughput. The load average
is printed beside every figure. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from baseline import BEFORE_SCALING, interpreter_for, unpacked
from synthetic import (
    GENE_POOL,
    WARM_UP,
    Pools,
    annotated_terms,
    free_port,
    gene_pool,
    load_average,
    machine,
    matches_in_turn,
    milliseconds,
    query_json,
    synthetic_records,
    timed_matches,
)

STARTED = "Application startup complete"
BANNER = "is running on"
WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("MME_BENCH_BODIES")) do bodies[#bodies + 1] = line end
local next_body = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/vnd.ga4gh.matchmaker.v1.0+json"
wrk.headers["Accept"] = "application/vnd.ga4gh.matchmaker.v1.0+json"
wrk.headers["X-Auth-Token"] = os.getenv("MME_BENCH_TOKEN")
request = function()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, "/match", nil, bodies[next_body])
end
"""


@dataclass(frozen=True)
class Version:
    """What is measured: this checkout (``tree`` None) or an unpacked older commit."""

    label: str
    tree: Path | None
    workers: int


@dataclass
class Figures:
    """Everything measured for one version at one size, with the load average at the time."""

    figures: dict[str, Any] = field(default_factory=dict)

    def note(self, name: str, value: Any) -> None:
        self.figures[name] = {"value": value, "load": round(os.getloadavg()[0], 2)}
        print(f"    {name}: {value}  (load {os.getloadavg()[0]:.2f})", flush=True)


# -- in a child process, against one version ------------------------------------


def fill(data_dir: Path, hpo_dir: Path, size: int) -> None:
    """Import ``size`` patients into a fresh store; print the seconds and a peer token."""
    from hpo import ReleaseLibrary
    from mme_node.security import Role, TokenRegistry
    from mme_node.stores import SQLitePatientStore

    release = ReleaseLibrary(hpo_dir).active()
    pools = Pools(terms=annotated_terms(release), genes=gene_pool(GENE_POOL, seed=1))
    store = SQLitePatientStore(data_dir / "mme-node.sqlite3")

    async def run() -> float:
        await store.open()
        try:
            started = time.perf_counter()
            report = await store.import_many(synthetic_records(pools, size, seed=size))
            if report.rejected:
                raise SystemExit(f"{len(report.rejected)} synthetic patients rejected")
            return time.perf_counter() - started
        finally:
            await store.close()

    seconds = asyncio.run(run())
    with TokenRegistry(data_dir / "mme-node.sqlite3") as registry:
        token = registry.create("bench-peer", Role.PEER)
    print(json.dumps({"seconds": seconds, "token": token}))


# -- the served node --------------------------------------------------------------


class Server:
    """``mme-node serve`` of one version on 127.0.0.1, its log in the data dir."""

    def __init__(self, version: Version, data_dir: Path, hpo_dir: Path, results: int) -> None:
        self.version = version
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command, environment = interpreter_for(version.tree)
        environment |= {
            "MME_DATA_DIR": str(data_dir),
            "MME_HPO_DIR_OVERRIDE": str(hpo_dir),
            "MME_HOST": "127.0.0.1",
            "MME_PORT": str(self.port),
            "MME_MAX_RESULTS": str(results),
            "MME_WORKERS": str(version.workers),
            "MME_RATE_LIMIT_MATCH": "0",  # one peer token sends everything here
        }
        self.log = data_dir / f"serve-{time.time_ns()}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "-m", "mme_node.cli", "serve"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=data_dir,
            )
        self.started = time.perf_counter()

    def wait_ready(self, token: str, timeout: float = 1800) -> float:
        """Seconds from launch until every worker started and the node answers."""
        while time.perf_counter() - self.started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"the node exited; see {self.log}")
            if self.log.read_text(errors="replace").count(STARTED) >= self.version.workers:
                try:
                    answer = httpx.get(
                        f"{self.url}/heartbeat", headers={"X-Auth-Token": token}, timeout=5
                    )
                    if answer.status_code == 200:
                        return time.perf_counter() - self.started
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise SystemExit(f"the node did not start within {timeout} s; see {self.log}")

    def wait_banner(self, timeout: float = 600) -> None:
        """Until the start-up banner is printed (all start-up work is done then)."""
        while BANNER not in self.log.read_text(errors="replace"):
            if time.perf_counter() - self.started > timeout or self.process.poll() is not None:
                raise SystemExit(f"no banner; see {self.log}")
            time.sleep(0.1)

    def processes(self) -> list[int]:
        """The server's process and its children (the workers), parent first."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return [self.process.pid, *sorted(children)]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def memory(pid: int) -> dict[str, float] | None:
    """RSS, PSS and USS of one process in MB (``smaps_rollup``); None if it has ended."""
    values: dict[str, float] = {}
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except FileNotFoundError:
        return None
    for line in rollup.splitlines()[1:]:
        name, amount, *_ = line.split()
        values[name.rstrip(":")] = int(amount) / 1024
    return {
        "rss_mb": round(values["Rss"], 1),
        "pss_mb": round(values["Pss"], 1),
        "uss_mb": round(values["Private_Clean"] + values["Private_Dirty"], 1),
    }


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User plus system CPU time so far of each of these processes still running."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # ended meanwhile (the short-lived process composing the banner)
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def start_cpu_seconds(server: Server) -> float:
    """CPU time of the whole server so far: its own, its reaped children's, its live children's."""
    children = server.processes()[1:]
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    own_and_reaped = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own_and_reaped + sum(cpu_seconds(children).values())


def sequential(server: Server, token: str, pools: Pools, requests: int) -> dict[str, Any]:
    """Latencies of sequential queries, and the server's CPU time per query (all processes).

    CPU time is what a query costs the machine whatever else runs on it, so it
    compares versions more steadily than latency on a shared machine.
    """
    processes = server.processes()
    before = cpu_seconds(processes)
    samples, results = timed_matches(server.url, token, pools, requests, seed=requests)
    after = cpu_seconds(processes)
    used = sum(after[pid] - before[pid] for pid in after.keys() & before.keys())
    cpu_ms = used / (WARM_UP + requests) * 1e3
    return {
        "p50_ms": round(at_rank(samples, 0.5) * 1e3, 1),
        "p95_ms": round(at_rank(samples, 0.95) * 1e3, 1),
        "p99_ms": round(at_rank(samples, 0.99) * 1e3, 1),
        "results_each": round(results / requests, 1),
        "server_cpu_ms": round(cpu_ms, 2),
        "summary": milliseconds(samples),
    }


def throughput(
    server: Server, token: str, bodies: Path, connections: int, seconds: float
) -> dict[str, Any]:
    """``wrk`` against ``/match``: requests per second and failed answers."""
    script = bodies.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    environment = os.environ | {"MME_BENCH_BODIES": str(bodies), "MME_BENCH_TOKEN": token}
    arguments = [f"-c{connections}", "-t2", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    output = subprocess.run(
        ["wrk", *arguments, server.url],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    p99 = re.search(r"\s99%\s+([\d.]+)(\w+)", output)
    return {
        "requests_per_s": float(rate[1]) if rate else None,
        "failed": int(failed[1]) if failed else 0,
        "p99": f"{p99[1]} {p99[2]}" if p99 else None,
    }


def disk(data_dir: Path) -> dict[str, float]:
    database = sum(p.stat().st_size for p in data_dir.glob("mme-node.sqlite3*"))
    index = sum(p.stat().st_size for p in (data_dir / "match-index").rglob("*") if p.is_file())
    return {"database_mb": round(database / 2**20, 1), "saved_index_mb": round(index / 2**20, 1)}


def imported(version: Version, size: int, work: Path) -> tuple[Path, Path, str, float]:
    """A new data dir of ``size`` patients for ``version``, its HPO dir, a peer token, seconds."""
    data_dir = work / f"{version.label}-{size}"
    hpo_dir = work / f"hpo-{version.label}"
    data_dir.mkdir(parents=True)
    command, environment = interpreter_for(version.tree)
    filled = subprocess.run(
        [*command, __file__, "--fill", str(data_dir), str(hpo_dir), str(size)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(filled.stdout.splitlines()[-1])
    return data_dir, hpo_dir, report["token"], report["seconds"]


def measure(
    version: Version, size: int, work: Path, pools: Pools, bodies: Path, args: Any
) -> Figures:
    print(f"\n  {version.label} ({version.workers} server process(es)), {size:,} patients")
    figures = Figures()
    data_dir, hpo_dir, token, seconds = imported(version, size, work)
    figures.note("import", f"{seconds:.1f} s ({size / seconds:,.0f}/s)")

    for run, results in enumerate(args.results):
        server = Server(version, data_dir, hpo_dir, results=results)
        try:
            started = server.wait_ready(token)
            figures.note("first start" if run == 0 else f"restart {run}", f"{started:.1f} s")
            answers = sequential(server, token, pools, args.requests)
            figures.note(f"match {results} results", answers)
            if run == 0 and size <= args.throughput_up_to and args.seconds > 0:
                figures.note(
                    f"throughput {results} results",
                    throughput(server, token, bodies, args.connections, args.seconds),
                )
            processes = [m for m in map(memory, server.processes()) if m is not None]
            figures.note(f"memory after {results}-result matches", processes)
        finally:
            server.stop()
    figures.note("disk", disk(data_dir))
    if not args.keep:
        shutil.rmtree(data_dir)
    return figures


def at_rank(samples: list[float], share: float) -> float:
    """The sample below which ``share`` of ``samples`` lie (p50: 0.5)."""
    return sorted(samples)[int(len(samples) * share)]


def paired(version: Version, size: int, work: Path, pools: Pools, args: Any) -> dict[str, Any]:
    """``/match`` answering each count of ``--results`` at once, queries taking turns.

    One server per count (``max_results``), each on its own copy of one
    imported data dir (so that one's history and late filing are not the
    other's), all started; then each query goes to each server in turn, in
    the other order for every other query: the counts compare on the same
    moments of a shared machine, where runs a minute apart may differ by
    half. Per count: p50/p95; and, of the fewest and the most results, the
    ratio of the p50s and the median over the queries of each one's ratio.
    """
    counts = sorted(set(args.results))
    imported_dir, hpo_dir, token, _ = imported(version, size, work)
    copies = []
    for count in counts:
        copy = work / f"{imported_dir.name}-{count}-results"
        shutil.copytree(imported_dir, copy)
        copies.append(copy)
    shutil.rmtree(imported_dir)
    servers: list[Server] = []
    try:
        for count, data_dir in zip(counts, copies, strict=True):
            servers.append(Server(version, data_dir, hpo_dir, results=count))
        for server in servers:
            server.wait_ready(token)
        urls = [server.url for server in servers]
        timed = matches_in_turn(
            urls, token, pools, args.requests, seed=args.requests, warm_up=args.warm_up
        )
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            for copy in copies:
                shutil.rmtree(copy)
    samples = [each for each, _ in timed]
    figures: dict[str, Any] = {
        f"{count} results": {
            "p50_ms": round(at_rank(each, 0.5) * 1e3, 1),
            "p95_ms": round(at_rank(each, 0.95) * 1e3, 1),
        }
        for count, each in zip(counts, samples, strict=True)
    }
    fewest, most = samples[0], samples[-1]
    figures["p50 ratio"] = round(at_rank(most, 0.5) / at_rank(fewest, 0.5), 2)
    ratios = [many / few for few, many in zip(fewest, most, strict=True)]
    figures["median ratio per query"] = round(at_rank(ratios, 0.5), 2)
    print(f"  {version.label} ({version.workers} workers each): {figures} ({load_average()})")
    return figures


def prepared(version: Version, size: int, work: Path) -> tuple[Path, Path, str]:
    """A data dir of ``size`` patients for ``version``, started once (its index saved)."""
    data_dir, hpo_dir, token, _ = imported(version, size, work)
    server = Server(version, data_dir, hpo_dir, results=5)
    try:
        print(f"  {version.label}: first start {server.wait_ready(token):.1f} s", flush=True)
        server.wait_banner()
    finally:
        server.stop()
    return data_dir, hpo_dir, token


def restarts(versions: list[Version], size: int, work: Path, rounds: int) -> dict[str, Any]:
    """Restarts of each version in turn: wall and CPU seconds of each, with the load average."""
    ready = {version.label: prepared(version, size, work) for version in versions}
    figures: dict[str, list[dict[str, float]]] = {version.label: [] for version in versions}
    for run in range(rounds):
        for version in versions:
            data_dir, hpo_dir, token = ready[version.label]
            server = Server(version, data_dir, hpo_dir, results=5)
            try:
                wall = server.wait_ready(token)
                server.wait_banner()
                time.sleep(0.5)  # the banner's process ends and is reaped
                cpu = start_cpu_seconds(server)
            finally:
                server.stop()
            load = os.getloadavg()[0]
            figures[version.label].append({"wall_s": wall, "cpu_s": cpu, "load": load})
            print(
                f"  restart {run + 1} {version.label} ({version.workers} workers):"
                f" wall {wall:.1f} s, CPU {cpu:.2f} s (load {load:.2f})",
                flush=True,
            )
    for label, runs in figures.items():
        walls = sorted(r["wall_s"] for r in runs)
        cpus = sorted(r["cpu_s"] for r in runs)
        loads = [r["load"] for r in runs]
        print(
            f"  {label}: wall median {walls[len(walls) // 2]:.1f} s (range {walls[0]:.1f}-"
            f"{walls[-1]:.1f}), CPU median {cpus[len(cpus) // 2]:.2f} s (range {cpus[0]:.2f}-"
            f"{cpus[-1]:.2f}), load {min(loads):.1f}-{max(loads):.1f}"
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", default=BEFORE_SCALING, help="commit to compare with")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--baseline-workers",
        type=int,
        default=1,
        help="server processes of the baseline (more only for a commit with serve --workers)",
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--warm-up",
        type=int,
        default=WARM_UP,
        help=f"with --paired: untimed queries before the timed ones (default {WARM_UP}: the"
        " connections; more to fill the node's caches of recently read patients first)",
    )
    parser.add_argument(
        "--results",
        type=int,
        nargs="+",
        default=[5, 50],
        help="results per answer (max_results), one start each: the first one, then restarts"
        " (with --paired: one server each, at once)",
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--throughput-up-to", type=int, default=100_000)
    parser.add_argument("--work", type=Path, help="where data dirs go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data dirs")
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    parser.add_argument(
        "--restarts", type=int, default=0, help="only measure this many restarts of each version"
    )
    parser.add_argument(
        "--phenotype-only",
        action="store_true",
        help="queries without a gene (every profile is scored), instead of 8-12 terms and a gene",
    )
    parser.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="only compare --results counts: one server each, queries taking turns; "
        "ROUNDS times per version, the versions taking turns",
    )
    parser.add_argument("--fill", nargs=3, metavar=("DATA_DIR", "HPO_DIR", "SIZE"))
    args = parser.parse_args()
    if args.fill:
        fill(Path(args.fill[0]), Path(args.fill[1]), int(args.fill[2]))
        return
    if shutil.which("wrk") is None and args.seconds > 0 and not (args.restarts or args.paired):
        raise SystemExit("wrk is needed for throughput (apt-get install wrk), or --seconds 0")
    print(machine())
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="scale-bench-", dir=args.work) as directory:
        work = Path(directory)
        from hpo import ReleaseLibrary

        release = ReleaseLibrary(work / "hpo-queries").active()
        genes = [] if args.phenotype_only else gene_pool(GENE_POOL, seed=1)
        pools = Pools(terms=annotated_terms(release), genes=genes)
        bodies = work / "bodies.jsonl"
        chance = random.Random(5)
        bodies.write_text(
            "\n".join(json.dumps(query_json(pools, chance, n)) for n in range(2000)) + "\n"
        )
        with unpacked(args.baseline) if not args.no_baseline else contextlib.nullcontext() as tree:
            versions = [Version("this", None, args.workers)]
            if tree is not None:
                versions.append(Version(args.baseline, tree, args.baseline_workers))
            for size in args.sizes:
                print(f"\n{size:,} patients")
                if args.restarts:
                    results[f"restarts/{size}"] = restarts(versions, size, work, args.restarts)
                    continue
                if args.paired:
                    for run in range(args.paired):
                        for version in versions:
                            results[f"{version.label}/{size}/paired {run + 1}"] = paired(
                                version, size, work, pools, args
                            )
                    continue
                for version in versions:
                    figures = measure(version, size, work, pools, bodies, args)
                    results[f"{version.label}/{size}"] = figures.figures
    print(f"\nat the end: {load_average()}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
