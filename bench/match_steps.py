"""Where the CPU of one inbound ``/match`` goes, step by step, in process (no HTTP).

    python bench/match_steps.py [--size 10000] [--results 5 200] [--requests 300]

Imports ``--size`` synthetic patients into a fresh data dir (as
``scale_bench.py`` does), starts a node without serving, and sends each
query through the public steps of a ``/match``, timing each with the
process's CPU time:

1. **validate**: parse the body, validate it (marshmallow) and normalise the
   query (what ``POST /match`` does before matching);
2. **inbound**: ``MatchService.inbound``, the whole match as a peer's
   ``/match`` runs it: rank, read the records, disclose, write the history
   and the audit entries in one transaction (a disk sync), notify;
3. **answer**: the answer's JSON text (``AnswerTexts``), timed on its own
   after ``inbound`` (a server builds it while the history is written: the
   same CPU, less waiting);

then, for the same query again, the parts of ``inbound`` on their own:
**rank**, **get_many** and **disclose**. **record** is what ``inbound``
costs beyond those three: the history and audit write (its commit included)
and the notifications. The first 20 queries warm the caches and are not
counted. Means in ms per query; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scale_bench import fill
from synthetic import GENE_POOL, Pools, annotated_terms, gene_pool, machine, query_json

from hpo import ReleaseLibrary
from mme_node.api.answers import AnswerTexts
from mme_node.formats.jsontext import load_json
from mme_node.formats.schemas import load_match_request
from mme_node.model import MatchResult
from mme_node.node import Node, start_node
from mme_node.security.files import make_private_by_default
from mme_node.settings import load_settings

WARM_UP = 20
PEER = "bench-peer"


class Steps:
    """CPU seconds spent in each named step, summed over the counted queries."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def timed(self, name: str, work: Callable[[], Any]) -> Any:
        started = time.process_time()
        value = work()
        self.seconds[name] += time.process_time() - started
        return value

    async def timed_async(self, name: str, work: Callable[[], Any]) -> Any:
        started = time.process_time()
        value = await work()
        self.seconds[name] += time.process_time() - started
        return value


async def one_query(
    node: Node, body: bytes, results: int, texts: AnswerTexts, steps: Steps
) -> None:
    def validated() -> Any:
        submitted, _ = load_match_request(load_json(body))
        query, _ = node.patients.normalise_query(submitted)
        return query

    query = steps.timed("validate", validated)
    shown = await steps.timed_async(
        "inbound", lambda: node.matches.inbound(PEER, query, lambda disclosed: disclosed)
    )
    settings = node.settings
    steps.timed("answer", lambda: texts.answer(shown, settings.disclaimer, settings.terms, "1.0"))

    recipient = node.matches.sharing.caller(PEER)
    state = node.matcher.serving.state
    ranked = steps.timed(
        "rank", lambda: node.matcher.rank(query, results, 0.0, None, state, recipient.scope)
    )
    keys = [candidate.key for candidate in ranked]
    records = await steps.timed_async("get_many", lambda: node.store.get_many(keys))
    found = [
        MatchResult(state.derived(r), c.score, c.phenotype_score, c.genotype_score)
        for c, r in zip(ranked, records, strict=True)
        if r is not None
    ]
    steps.timed("disclose", lambda: [node.matches.sharing.disclose(r, recipient) for r in found])


async def measure(data_dir: Path, hpo_dir: Path, results: int, requests: int) -> dict[str, float]:
    os.environ.update(
        MME_DATA_DIR=str(data_dir),
        MME_HPO_DIR_OVERRIDE=str(hpo_dir),
        MME_MAX_RESULTS=str(results),
        MME_RATE_LIMIT_MATCH="0",
    )
    release = ReleaseLibrary(hpo_dir).active()
    pools = Pools(terms=annotated_terms(release), genes=gene_pool(GENE_POOL, seed=1))
    chance = random.Random(results)
    bodies = [json.dumps(query_json(pools, chance, n)).encode() for n in range(WARM_UP + requests)]
    node = await start_node(load_settings())
    texts = AnswerTexts()
    try:
        for body in bodies[:WARM_UP]:
            await one_query(node, body, results, texts, Steps())
        steps = Steps()
        for body in bodies[WARM_UP:]:
            await one_query(node, body, results, texts, steps)
    finally:
        await node.stop()
    mean = {name: seconds / requests * 1e3 for name, seconds in steps.seconds.items()}
    mean["record"] = mean["inbound"] - mean["rank"] - mean["get_many"] - mean["disclose"]
    return mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--results", type=int, nargs="*", default=[5, 200])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    make_private_by_default()  # as the command line does: the data dir holds patients
    print(machine())
    order = ["validate", "rank", "get_many", "disclose", "record", "answer"]
    with tempfile.TemporaryDirectory(prefix="mme-steps-") as work:
        data_dir, hpo_dir = Path(work) / "data", Path(work) / "hpo"
        data_dir.mkdir(mode=0o700)
        fill(data_dir, hpo_dir, args.size)
        print(f"\n{args.size:,} patients, {args.requests} queries each; CPU ms per query")
        print(f"{'results':>8} " + " ".join(f"{name:>9}" for name in order) + f" {'total':>9}")
        for results in args.results:
            mean = asyncio.run(measure(data_dir, hpo_dir, results, args.requests))
            total = mean["validate"] + mean["inbound"] + mean["answer"]
            cells = " ".join(f"{mean[name]:9.2f}" for name in order)
            print(f"{results:8d} {cells} {total:9.2f}", flush=True)


if __name__ == "__main__":
    main()
