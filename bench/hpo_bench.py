"""Benchmark of the ``hpo`` engine: release loading and one-vs-many phenotype scoring.

Prints its figures; it is not a test. Usage::

    python bench/hpo_bench.py                      # ours only
    python bench/hpo_bench.py --compare-with /tmp/benchvenv/bin/python \\
                              --compare-with /tmp/benchvenv3/bin/python

Each ``--compare-with`` interpreter must import ``pyhpo`` (the PyPI package
``pyhpo``, pure Python, or ``hpo3``, its Rust re-implementation; both install a
module named ``pyhpo``, so give each its own virtual environment, see
docs/hpo.md). The same query/profile pairs are scored there in a subprocess
and pairs per second are compared. Without any, the comparison is skipped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import lzma
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hpo import BUNDLED_FILES, ProfileMatrix, Release, ReleaseLibrary

SIZES = (10_000, 100_000, 1_000_000)
QUERY_TERMS = 10
MEAN_PROFILE_TERMS = 8
RUNS = 7
COMPARISON_PAIRS = 2_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-with", action="append", default=[], metavar="PYTHON")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _comparison_worker(args.worker)

    _print_machine()
    with tempfile.TemporaryDirectory(prefix="hpo-bench-") as scratch:
        release = _bench_loading(Path(scratch))
        rng = np.random.default_rng(20250116)
        candidates = _annotated_terms(release)
        query = [release.ontology.ids[i] for i in rng.choice(candidates, QUERY_TERMS, False)]
        print(f"\nquery: {QUERY_TERMS} terms drawn from {len(candidates)} annotated terms")
        matrix = _bench_scoring(release, query, candidates, rng)
        _bench_comparison(release, query, matrix, args.compare_with, Path(scratch))
    return 0


def _print_machine() -> None:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}; scoring runs on one core")


def _bench_loading(scratch: Path) -> Release:
    root = scratch / "library"
    stages: dict[str, float] = {}
    current = ["starting"]
    started = time.perf_counter()
    last = [started]

    def progress(stage: str, done: int, total: int) -> None:
        # The time since the last report belongs to the stage that was running.
        now = time.perf_counter()
        stages[current[0]] = stages.get(current[0], 0.0) + now - last[0]
        current[0], last[0] = stage, now

    info = ReleaseLibrary(root).load(BUNDLED_FILES, progress=progress)
    progress("done", 1, 1)
    cold = time.perf_counter() - started
    print(f"\nHPO {info.version}: {info.term_count} terms, {info.annotation_count} annotations")
    print(f"cold load (verify + pronto parse + annotations + compile): {cold:.2f} s")
    for stage, seconds in stages.items():
        print(f"  {stage:<44} {seconds:6.2f} s")
    warm = [_timed(ReleaseLibrary(root).active) for _ in range(RUNS)]
    print(
        "warm load (compiled cache, new library each time): median "
        f"{_ms([w for w, _ in warm])} wall, {_ms([c for _, c in warm])} CPU, of {RUNS}"
    )
    release = ReleaseLibrary(root).active()
    return release


def _annotated_terms(release: Release) -> np.ndarray[Any, np.dtype[np.int32]]:
    """Indices of the terms named by at least one (non-NOT) row of the bundled annotations."""
    seen: set[str] = set()
    with lzma.open(BUNDLED_FILES[1], "rt", encoding="utf-8") as rows:
        for row in rows:
            fields = row.split("\t")
            if len(fields) > 3 and fields[3].startswith("HP:") and fields[2] != "NOT":
                seen.add(fields[3])
    ontology = release.ontology
    return np.array(sorted(ontology.index_of(t) for t in seen if t in ontology), dtype=np.int32)


def _synthetic_matrix(
    release: Release, candidates: np.ndarray[Any, Any], size: int, rng: np.random.Generator
) -> ProfileMatrix:
    lengths = rng.integers(MEAN_PROFILE_TERMS - 3, MEAN_PROFILE_TERMS + 4, size)
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = rng.choice(candidates, int(indptr[-1]))
    keys = [f"patient-{n}" for n in range(size)]
    return ProfileMatrix.from_csr(release.ontology, keys, indptr, indices)


def _bench_scoring(
    release: Release, query: list[str], candidates: np.ndarray[Any, Any], rng: np.random.Generator
) -> ProfileMatrix:
    engine = release.similarity
    matrix = _synthetic_matrix(release, candidates, SIZES[0], rng)
    print("\none query vs N synthetic profiles: median of runs, wall and CPU time (CPU time is")
    print("what one core spends, robust to other load); peak = extra memory of one call")
    header = f"{'N':>9} {'terms':>9} {'method':<18} {'wall':>8} {'cpu':>8} {'profiles/s':>11}"
    print(f"{header} {'peak':>9}")
    for size in SIZES:
        matrix = _synthetic_matrix(release, candidates, size, rng)
        entries = int(matrix.csr.indptr[-1])
        methods = [
            ("resnik BMA", partial(engine.score_profiles, query, matrix, "resnik")),
            ("resnik normalised", partial(engine.score_profiles, query, matrix, "resnik", True)),
        ]
        if size == SIZES[-1]:
            methods += [
                ("lin BMA", partial(engine.score_profiles, query, matrix, "lin")),
                ("jc BMA", partial(engine.score_profiles, query, matrix, "jc")),
            ]
            first = _timed(partial(engine.score_profiles, query, matrix, "simgic"))
            print(f"{'':>9} {'':>9} {'simgic (1st call)':<18} {first[0] * 1000:>5.0f} ms")
            methods.append(
                ("simgic (cached)", partial(engine.score_profiles, query, matrix, "simgic"))
            )
        # The learned phenotype model asks for both at once: one pass over the matrix.
        both = partial(engine.score_profiles_by, query, matrix, ["resnik", "simgic"], True)
        if size == SIZES[-1]:
            methods.append(("resnik+simgic", both))
        for name, call in methods:
            runs = [_timed(call) for _ in range(RUNS)]
            wall, cpu = [run[0] for run in runs], [run[1] for run in runs]
            peak = _peak_bytes(call)
            rate = size / statistics.median(cpu)
            print(
                f"{size:>9,} {entries:>9,} {name:<18} {_ms(wall):>8} {_ms(cpu):>8} "
                f"{rate:>11,.0f} {peak / 2**20:>6.1f} MB"
            )
    matrix_bytes = matrix.csr.indptr.nbytes + matrix.csr.indices.nbytes
    print(f"matrix of {SIZES[-1]:,} profiles: {matrix_bytes / 2**20:.1f} MB of arrays")
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"process peak RSS: {usage / 1024:.0f} MB")
    return matrix


def _bench_comparison(
    release: Release, query: list[str], matrix: ProfileMatrix, pythons: list[str], scratch: Path
) -> None:
    print(f"\nside by side: the query vs the first {COMPARISON_PAIRS} profiles (same pairs)")
    profiles = [matrix.terms(key) for key in _first_keys(matrix, COMPARISON_PAIRS)]
    small = ProfileMatrix.build(release.ontology, enumerate_keys(profiles))
    engine = release.similarity
    score = partial(engine.score_profiles, query, small, "resnik")
    vector_times = [_timed(score)[1] for _ in range(RUNS)]
    ours = engine.score_profiles(query, small, "resnik")
    started = time.process_time()
    for terms in profiles:
        engine.profile_similarity(query, terms, "resnik")
    pairwise_rate = len(profiles) / (time.process_time() - started)
    vector_rate = len(profiles) / statistics.median(vector_times)
    print("  (pairs per CPU second; hpo3 may use several threads, its CPU time counts them all)")
    print(f"  hpo one-vs-many (vectorised):    {vector_rate:>11,.0f} pairs/s")
    print(f"  hpo profile_similarity per pair: {pairwise_rate:>11,.0f} pairs/s")
    if not pythons:
        print("  comparison skipped: no --compare-with interpreter given (see docs/hpo.md)")
        return
    pairs_file = scratch / "pairs.json"
    pairs_file.write_text(json.dumps({"query": query, "profiles": [list(p) for p in profiles]}))
    for python in pythons:
        result = _run_worker(python, pairs_file)
        if "error" in result:
            print(f"  {python}: comparison skipped ({result['error']})")
            continue
        theirs = np.array(result["scores"])
        agreement = float(np.corrcoef(ours[: len(theirs)], theirs)[0, 1])
        print(
            f"  {result['library']} {result['version']} (HPO {result['hpo']}, {result['how']}): "
            f"{result['rate']:>10,.0f} pairs/s; hpo vectorised is "
            f"{vector_rate / result['rate']:,.0f}x faster; load {result['load']:.1f} s; "
            f"Pearson r with our scores {agreement:.3f}"
        )


def enumerate_keys(profiles: list[tuple[str, ...]]) -> list[tuple[str, tuple[str, ...]]]:
    return [(f"p{n}", terms) for n, terms in enumerate(profiles)]


def _first_keys(matrix: ProfileMatrix, count: int) -> list[str]:
    keys = (matrix.key(row) for row in range(matrix.rows))
    return [key for key, _ in zip((k for k in keys if k is not None), range(count), strict=False)]


def _run_worker(python: str, pairs_file: Path) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [python, __file__, "--worker", str(pairs_file)],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"error": str(error)}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _comparison_worker(pairs_file: Path) -> int:
    """Runs inside the comparison interpreter: score the pairs with ``pyhpo`` / ``hpo3``."""
    import importlib.metadata

    try:
        import pyhpo
    except ImportError:
        print(json.dumps({"error": "pyhpo is not importable"}))
        return 0
    rust = hasattr(pyhpo, "pyhpo")  # hpo3 ships the compiled module pyhpo.pyhpo
    library = "hpo3" if rust else "pyhpo"
    ontology = pyhpo.Ontology  # both libraries expose one global ontology, loaded by calling it
    started = time.perf_counter()
    ontology()
    load = time.perf_counter() - started
    pairs = json.loads(pairs_file.read_text())

    def hposet(terms: list[str]) -> Any:
        known = []
        for term in terms:
            try:
                ontology.get_hpo_object(term)
            except Exception:  # noqa: BLE001 - each library raises its own kind
                continue  # a term this library's release does not know
            known.append(term)
        return pyhpo.HPOSet.from_queries(known)

    query = hposet(pairs["query"])
    profiles = [hposet(terms) for terms in pairs["profiles"]]
    options = {"kind": "omim", "method": "resnik", "combine": "funSimAvg"}
    started = time.process_time()
    if rust:
        scores = list(query.similarity_scores(profiles, **options))
        how = "HPOSet.similarity_scores, Rust"
    else:
        scores = [query.similarity(profile, **options) for profile in profiles]
        how = "HPOSet.similarity per pair"
    elapsed = time.process_time() - started
    hpo_version = ontology.version() if rust else "2025-01-16 (bundled)"
    print(
        json.dumps(
            {
                "library": library,
                "version": importlib.metadata.version(library),
                "hpo": hpo_version,
                "how": how,
                "rate": len(profiles) / elapsed,
                "load": load,
                "scores": scores,
            }
        )
    )
    return 0


def _timed(call: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def _peak_bytes(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
