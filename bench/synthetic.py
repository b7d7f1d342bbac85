"""Synthetic patients and queries, and the machine's description, shared by the benchmarks.

It imports only what every version of ``mme_node`` since the first landing
offers (the patient model, the store, the token registry), so that a
benchmark can run the same code against an older commit side by side
(:mod:`baseline`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import gzip
import json
import os
import platform
import random
import socket
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from hpo import Release
from mme_node.model import Contact, Feature, Gene, GenomicFeature, Patient, PatientRecord

MME_V1_0 = "application/vnd.ga4gh.matchmaker.v1.0+json"
PHENOTYPIC_ABNORMALITY = "HP:0000118"
OWNERS = ("clinic-a", "clinic-b", "clinic-c")
CONTACT = Contact(name="Dr Bench", href="mailto:bench@example.org")
GENE_POOL = 2_000
TEST_SHARE = 0.05


@dataclass(frozen=True)
class GenePick:
    hgnc_id: str
    symbol: str


@dataclass(frozen=True)
class Pools:
    """What synthetic patients and queries are drawn from."""

    terms: list[str]
    genes: list[GenePick]


def annotated_terms(release: Release) -> list[str]:
    """Phenotype terms diseases are annotated to (IC below that of unannotated terms)."""
    ontology = release.ontology
    ic = release.information_content.values
    return [
        ontology.term_id(int(index))
        for index in ontology.descendants(PHENOTYPIC_ABNORMALITY)
        if 0 < ic[index] < ic.max()
    ]


def gene_pool(size: int, seed: int) -> list[GenePick]:
    """Approved protein-coding genes of the bundled HGNC table."""
    table = resources.files("mme_node") / "data" / "hgnc_genes.tsv.gz"
    with resources.as_file(table) as path, gzip.open(path, "rt", encoding="utf-8") as lines:
        genes = [
            GenePick(row["hgnc_id"], row["symbol"])
            for row in csv.DictReader(lines, delimiter="\t")
            if row["locus_group"] == "protein-coding gene"
        ]
    return random.Random(seed).sample(genes, size)


def synthetic_records(pools: Pools, count: int, seed: int) -> Iterator[PatientRecord]:
    chance = random.Random(seed)
    for number in range(count):
        gene = chance.choice(pools.genes)
        patient = Patient(
            id=f"P{number:08d}",
            contact=CONTACT,
            features=tuple(Feature(t) for t in chance.sample(pools.terms, chance.randint(6, 10))),
            genomic_features=(
                GenomicFeature(Gene(id=gene.symbol, hgnc_id=gene.hgnc_id, symbol=gene.symbol)),
            ),
            test=chance.random() < TEST_SHARE,
        )
        yield PatientRecord(
            owner=OWNERS[number % len(OWNERS)],
            patient=patient,
            hpo_release="2025-01-16",
            submitted_json="{}",
        )


def query_json(pools: Pools, chance: random.Random, number: int) -> dict[str, Any]:
    """A query of 8-12 terms and one gene; phenotype only when ``pools`` has no genes."""
    patient: dict[str, Any] = {
        "id": f"Q{number}",
        "contact": {"name": "Dr Peer", "href": "https://peer.example.org/contact"},
        "features": [{"id": t} for t in chance.sample(pools.terms, chance.randint(8, 12))],
    }
    if pools.genes:
        patient["genomicFeatures"] = [{"gene": {"id": chance.choice(pools.genes).symbol}}]
    return {"patient": patient}


def milliseconds(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return (
        f"p50 {cuts[49] * 1e3:6.1f} ms  p95 {cuts[94] * 1e3:6.1f} ms  "
        f"p99 {cuts[98] * 1e3:6.1f} ms  max {max(samples) * 1e3:6.1f} ms"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (
        f"{datetime.date.today()}  {os.cpu_count()} CPUs ({model}), python "
        f"{platform.python_version()}, numpy {np.__version__}; {load_average()}"
    )


def load_average() -> str:
    """Other processes share the CPUs with the node and the load generator: say how many."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


WARM_UP = 5
"""Queries :func:`timed_matches` sends before it starts timing, by default: enough for
the connections, not for the node's caches of recently read patients."""


def timed_matches(
    url: str, token: str, pools: Pools, requests: int, seed: int = 0, warm_up: int = WARM_UP
) -> tuple[list[float], int]:
    """Seconds of each of ``requests`` sequential ``/match`` on one keep-alive connection,
    after ``warm_up`` other queries; and the number of results they returned in all."""
    ((samples, results),) = matches_in_turn([url], token, pools, requests, seed, warm_up)
    return samples, results


def matches_in_turn(
    urls: Sequence[str],
    token: str,
    pools: Pools,
    requests: int,
    seed: int = 0,
    warm_up: int = WARM_UP,
) -> list[tuple[list[float], int]]:
    """:func:`timed_matches` on several nodes at once: each query is sent to each node in
    turn before the next query, so that all of them meet the same moments of a shared
    machine; every other query in the other order, so that no node always comes right
    after another (and its work after answering). The ``warm_up`` queries before (other
    query patients: ids Q-1, Q-2...) are not timed. Per node: the seconds of each query
    and the results returned in all."""
    chance = random.Random(seed)
    headers = {"X-Auth-Token": token, "Content-Type": MME_V1_0, "Accept": MME_V1_0}
    timed: list[tuple[list[float], int]] = [([], 0) for _ in urls]
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(httpx.Client(base_url=url, headers=headers, timeout=300))
            for url in urls
        ]
        warming = random.Random(-1)
        for number in range(warm_up):  # connections, caches
            body = json.dumps(query_json(pools, warming, -1 - number))
            for client in clients:
                client.post("/match", content=body)
        for number in range(requests):
            body = json.dumps(query_json(pools, chance, number))
            order = list(enumerate(clients))
            for place, client in order if number % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                answer = client.post("/match", content=body)
                seconds = time.perf_counter() - started
                answer.raise_for_status()
                samples, results = timed[place]
                samples.append(seconds)
                timed[place] = (samples, results + len(answer.json()["results"]))
    return timed
