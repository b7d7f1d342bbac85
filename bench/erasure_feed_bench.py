"""What an erasure costs a process that did not make it: one row removed, or a rebuild.

A follower (as in a server worker) holds the match index of N synthetic
patients (three owners) in a real SQLite file. Another connection, as
another process would, erases patients one at a time (the store's deletion,
then ``ChangeLog.forget_patient``: the patient's change rows deleted, an
``erasure`` row naming it by audit subject appended), and the follower's
``catch_up`` applying it is timed. Beside it, in the same run: what the
follower did for an erasure before the erasure row existed, a rebuild of
its whole index from the store (``Matcher.build_state``). Prints the machine
and the load average.

    python bench/erasure_feed_bench.py [--patients 100000] [--erasures 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from match_bench import (
    GENE_POOL,
    OWNERS,
    Pools,
    annotated_terms,
    fill_store,
    gene_pool,
    load_average,
    machine,
)

from hpo import Release, ReleaseLibrary
from mme_node.matching.follower import ChangeFollower
from mme_node.matching.matcher import Matcher
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.stores import SQLitePatientStore
from mme_node.stores.changes import ChangeLog


async def measure(data_dir: Path, release: Release, erasures: int) -> None:
    path = data_dir / "mme-node.sqlite3"
    pseudonyms = Pseudonyms.in_data_dir(data_dir)
    store, other = SQLitePatientStore(path), SQLitePatientStore(path)
    await store.open()
    await other.open()
    changes, others_changes = ChangeLog(path), ChangeLog(path)
    matcher = Matcher(Serving.of(release), store, ScoringWeights())
    hour = 3600.0  # no polling: each erasure is applied by a timed catch_up
    follower = ChangeFollower(
        changes, matcher, lambda key: release, pseudonyms=pseudonyms, interval=hour
    )
    try:
        started = time.perf_counter()
        indexed = await follower.start()
        took = time.perf_counter() - started
        print(f"follower started: {indexed:,} patients indexed in {took:.1f} s")
        applied = []
        for number in range(erasures):
            row = number * 997 % indexed  # spread; synthetic patient n is OWNERS[n % 3]'s
            owner, patient_id = OWNERS[row % len(OWNERS)], f"P{row:08d}"
            await other.delete(owner, patient_id)
            await others_changes.forget_patient(
                owner, patient_id, pseudonyms.subject(owner, patient_id)
            )
            started = time.perf_counter()
            await follower.catch_up()
            applied.append(time.perf_counter() - started)
        assert follower.reloads == 0, "an erasure made the follower rebuild"
        assert len(matcher.index) == indexed - erasures, "not every erased patient left the index"
        print(
            f"erasure row applied ({erasures} erasures, {indexed // len(OWNERS):,} patients per "
            f"owner): median {statistics.median(applied) * 1e3:.0f} ms, "
            f"max {max(applied) * 1e3:.0f} ms; rebuilds 0  [{load_average()}]"
        )
        started = time.perf_counter()
        state = await matcher.build_state(release)
        print(
            f"before (a rebuild per erasure): build_state of {len(state.index):,} patients "
            f"{time.perf_counter() - started:.1f} s  [{load_average()}]"
        )
    finally:
        await follower.stop()
        changes.close()
        others_changes.close()
        await store.close()
        await other.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--erasures", type=int, default=10)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="erasure-feed-bench-") as directory:
        work = Path(directory)
        release = ReleaseLibrary(work / "hpo").active()
        pools = Pools(terms=annotated_terms(release), genes=gene_pool(GENE_POOL, seed=1))
        data_dir = work / "node"
        data_dir.mkdir()
        imported = asyncio.run(fill_store(data_dir, pools, args.patients))
        print(f"{args.patients:,} patients imported in {imported:.1f} s")
        asyncio.run(measure(data_dir, release, args.erasures))


if __name__ == "__main__":
    main()
