"""Saved match indexes: loaded as they were saved, taking writes, ignored when unusable."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matching_samples import MatchingNode, patient_json, prepared, record_of, snv

from hpo import Release, SimilarityEngine
from mme_node.matching.follower import ChangeFollower
from mme_node.matching.index import MatchIndex
from mme_node.matching.matcher import Matcher
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.snapshot import IndexSnapshots
from mme_node.matching.state import Serving, ServingState
from mme_node.model import Consent, DisclosureLevel, Patient, PatientRecord, Sharing
from mme_node.security.consent import SHIPPED_DEFAULT_CONSENT, PeerScope
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.services.patients import PatientService
from mme_node.stores.changes import ChangeLog
from mme_node.stores.sqlite import SQLitePatientStore
from mme_node.vocabulary.genes import GeneIndex

pytestmark = pytest.mark.anyio

OWNER = "clinic-a"
AUTISM = "HP:0000717"
GENES = ["SCN1A", "PTEN", "KMT2D", "MECP2"]
CONSENTS = [
    None,  # the node's default
    Consent(Sharing.LOCAL, DisclosureLevel.GENES),
    Consent(Sharing.COUNTRIES, DisclosureLevel.CONTACT, countries=("DE", "FR")),
    Consent(Sharing.ALL, DisclosureLevel.VARIANTS),
]
SCOPES = [None, PeerScope("DE"), PeerScope("US"), PeerScope(None)]


def cohort(release: Release, genes: GeneIndex, terms: list[str], seed: int) -> list[PatientRecord]:
    """Patients with every kind of fact, some of them test patients, several owners."""
    chance = random.Random(seed)
    records = []
    for number in range(300):
        patient = patient_json(
            f"P{number}",
            chance.sample(terms, chance.randint(0, 6)),
            excluded=chance.sample(terms, 1) if chance.random() < 0.2 else [],
            genes=chance.sample(GENES, chance.randint(1, 2)),
            variants=[("SCN1A", snv(chance.randrange(4)))] if chance.random() < 0.3 else [],
            disorders=["MIM:607208"] if chance.random() < 0.2 else [],
            test=chance.random() < 0.1,
        )
        owner = chance.choice(["clinic-a", "clinic-b"])
        record = record_of(prepared(patient, release.ontology, genes), owner=owner)
        consent = chance.choice(CONSENTS)
        records.append(record if consent is None else dataclasses.replace(record, consent=consent))
    return records


def queries(release: Release, genes: GeneIndex, terms: list[str]) -> list[Patient]:
    chance = random.Random(11)
    return [
        prepared(
            patient_json(
                f"Q{n}",
                chance.sample(terms, 4),
                excluded=chance.sample(terms, 1),
                genes=chance.sample(GENES, 1),
                variants=[("SCN1A", snv(1))],
                test=n % 5 == 0,
            ),
            release.ontology,
            genes,
        )
        for n in range(12)
    ]


def rankings(index: MatchIndex, release: Release, asked: list[Patient]) -> list[Any]:
    """Every candidate of every query, for this node and peers of several countries."""
    matcher = Matcher(Serving(ServingState(release, index)), None, ScoringWeights())  # type: ignore[arg-type]
    every = len(index)  # every candidate, ordered by score then key: row order breaks no tie
    return [
        sorted((-round(c.score, 9), c.key) for c in matcher.rank(q, every, scope=scope))
        for q in asked
        for scope in SCOPES
    ]


def saved_and_loaded(index: MatchIndex, release: Release, directory: Path, seq: int) -> MatchIndex:
    snapshots = IndexSnapshots(directory)
    snapshots.save(snapshots.copy(ServingState(release, index), seq))
    loaded = snapshots.load(release, index.default_consent)
    assert loaded is not None
    state, info = loaded
    assert info.seq == seq
    return state.index


@pytest.fixture
def terms(annotated_terms: list[str]) -> list[str]:
    return annotated_terms[:60]


def test_a_loaded_index_ranks_and_counts_as_the_saved_one(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex, terms: list[str]
) -> None:
    index = MatchIndex(bundled_release.ontology)
    records = cohort(bundled_release, gene_index, terms, seed=1)
    for record in records:
        index.add(record)
    for record in records[::7]:
        index.remove(record.key)  # dead rows are not saved
    loaded = saved_and_loaded(index, bundled_release, tmp_path, seq=42)
    asked = queries(bundled_release, gene_index, terms)
    assert rankings(loaded, bundled_release, asked) == rankings(index, bundled_release, asked)
    assert loaded.counts() == index.counts()
    assert len(loaded) == len(index)
    assert loaded.test.counts() == index.test.counts()


def warmed_index(release: Release, genes: GeneIndex, terms: list[str]) -> MatchIndex:
    """An index with dead rows whose matrices have the similarity caches a serving one has."""
    index = MatchIndex(release.ontology)
    records = cohort(release, genes, terms, seed=3)
    for record in records:
        index.add(record)
    for record in records[::5]:
        index.remove(record.key)
    for partition in (index.real, index.test):
        for matrix in (partition.observed, partition.picture):
            release.similarity.warm(matrix, ["resnik", "simgic"])
    return index


def test_the_saved_similarity_values_are_adopted_by_the_loading_process(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex, terms: list[str]
) -> None:
    index = warmed_index(bundled_release, gene_index, terms)
    loaded = saved_and_loaded(index, bundled_release, tmp_path, seq=7)
    fresh = SimilarityEngine(bundled_release.ontology, bundled_release.information_content)
    for partition in (loaded.real, loaded.test):
        for matrix in (partition.observed, partition.picture):
            adopted = bundled_release.similarity.row_values(matrix)  # never warmed here
            fresh.warm(matrix, ["resnik", "simgic"])
            computed = fresh.row_values(matrix)
            assert sorted(adopted) == sorted(computed) == ["closure_weight", "mean_ic"]
            for name, values in computed.items():
                assert np.array_equal(adopted[name], values)
    asked = queries(bundled_release, gene_index, terms)
    assert rankings(loaded, bundled_release, asked) == rankings(index, bundled_release, asked)


@pytest.mark.parametrize("damage", ["other values", "one row short", "not a number"])
def test_damaged_similarity_values_make_the_snapshot_unusable(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex, terms: list[str], damage: str
) -> None:
    index = warmed_index(bundled_release, gene_index, terms)
    snapshots = IndexSnapshots(tmp_path)
    info = snapshots.save(snapshots.copy(ServingState(bundled_release, index), 7))
    path = tmp_path / info.name / "real.picture.per_row.closure_weight.npy"
    values = np.load(path)
    if damage == "other values":
        values = values * 1.01
    elif damage == "one row short":
        values = values[:-1]
    else:
        values[len(values) // 2] = np.nan
    np.save(path, values)
    assert snapshots.load(bundled_release, index.default_consent) is None  # built again


def test_a_snapshot_without_similarity_values_loads_and_computes_them(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex, terms: list[str]
) -> None:
    index = warmed_index(bundled_release, gene_index, terms)
    snapshots = IndexSnapshots(tmp_path)
    info = snapshots.save(snapshots.copy(ServingState(bundled_release, index), 7))
    meta_path = tmp_path / info.name / "meta.json"
    meta = json.loads(meta_path.read_text())
    for part in ("real", "test"):  # as snapshots were saved before these values were
        meta[part]["arrays"] = [name for name in meta[part]["arrays"] if ".per_row." not in name]
    meta_path.write_text(json.dumps(meta))
    loaded = snapshots.load(bundled_release, index.default_consent)
    assert loaded is not None
    assert bundled_release.similarity.row_values(loaded[0].index.real.picture) == {}
    asked = queries(bundled_release, gene_index, terms)
    assert rankings(loaded[0].index, bundled_release, asked) == rankings(
        index, bundled_release, asked
    )


def test_a_loaded_index_takes_writes_and_compacts_like_a_fresh_one(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex, terms: list[str]
) -> None:
    first = cohort(bundled_release, gene_index, terms, seed=2)
    index = MatchIndex(bundled_release.ontology)
    for record in first:
        index.add(record)
    loaded = saved_and_loaded(index, bundled_release, tmp_path, seq=1)
    later = cohort(bundled_release, gene_index, terms, seed=3)  # the same ids, new content
    for _ in range(5):  # enough replacements to compact the loaded arrays
        for record in later:
            loaded.add(record)
    for record in later[::3]:
        loaded.remove(record.key)
    final = {record.key: record for record in first} | {record.key: record for record in later}
    for record in later[::3]:
        del final[record.key]
    fresh = MatchIndex(bundled_release.ontology)
    for record in final.values():
        fresh.add(record)
    asked = queries(bundled_release, gene_index, terms)
    assert rankings(loaded, bundled_release, asked) == rankings(fresh, bundled_release, asked)
    assert loaded.counts() == fresh.counts()


def test_saving_replaces_the_snapshot_and_deletes_the_older_one(
    tmp_path: Path, bundled_release: Release
) -> None:
    snapshots = IndexSnapshots(tmp_path)
    state = ServingState.empty(bundled_release)
    first = snapshots.save(snapshots.copy(state, 1))
    second = snapshots.save(snapshots.copy(state, 2))
    assert snapshots.latest() == second
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [second.name]
    assert first.name != second.name


def test_a_snapshot_saved_with_another_default_consent_is_not_used(
    tmp_path: Path, bundled_release: Release
) -> None:
    snapshots = IndexSnapshots(tmp_path)
    snapshots.save(snapshots.copy(ServingState.empty(bundled_release), 1))
    local_only = Consent(Sharing.LOCAL, DisclosureLevel.GENES)
    assert snapshots.load(bundled_release, local_only) is None
    assert snapshots.load(bundled_release, SHIPPED_DEFAULT_CONSENT) is not None


def test_a_snapshot_of_another_release_is_not_used(
    tmp_path: Path, bundled_release: Release
) -> None:
    snapshots = IndexSnapshots(tmp_path)
    info = snapshots.save(snapshots.copy(ServingState.empty(bundled_release), 1))
    meta_path = tmp_path / info.name / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(meta | {"release": "another-release"}))
    assert snapshots.load(bundled_release, SHIPPED_DEFAULT_CONSENT) is None
    meta_path.write_text(json.dumps(meta | {"format": 999}))
    assert (
        snapshots.latest() is None
        and snapshots.load(bundled_release, SHIPPED_DEFAULT_CONSENT) is None
    )


def test_a_damaged_snapshot_is_not_used(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex, terms: list[str]
) -> None:
    index = MatchIndex(bundled_release.ontology)
    for record in cohort(bundled_release, gene_index, terms, seed=4):
        index.add(record)
    snapshots = IndexSnapshots(tmp_path)
    info = snapshots.save(snapshots.copy(ServingState(bundled_release, index), 1))
    array = tmp_path / info.name / "real.observed.values.npy"
    array.write_bytes(array.read_bytes()[:-40])  # a truncated file
    assert snapshots.load(bundled_release, SHIPPED_DEFAULT_CONSENT) is None
    (tmp_path / "current").write_text("s-nonexistent")
    assert snapshots.load(bundled_release, SHIPPED_DEFAULT_CONSENT) is None


@asynccontextmanager
async def restartable_node(
    path: Path, release: Release, genes: GeneIndex
) -> AsyncIterator[MatchingNode]:
    """A node on the SQLite file ``path`` whose follower saves and loads snapshots."""
    store = SQLitePatientStore(path)
    await store.open()
    serving = Serving.of(release)
    matcher = Matcher(serving, store, ScoringWeights())
    changes = ChangeLog(path)
    snapshots = IndexSnapshots(path.parent / "match-index")
    follower = ChangeFollower(
        changes,
        matcher,
        lambda key: release,
        pseudonyms=Pseudonyms.in_data_dir(path.parent),
        interval=0.02,
        snapshots=snapshots,
    )
    patients = PatientService(store=store, serving=serving, genes=genes, listeners=[follower])
    try:
        yield MatchingNode(store=store, patients=patients, matcher=matcher, follower=follower)
    finally:
        await follower.stop()
        changes.close()
        await store.close()


async def matched_ids(node: MatchingNode, *terms: str) -> list[str]:
    results = await node.matcher.match(node.query(patient_json("Q", terms)), limit=10)
    return sorted(result.record.patient.id for result in results)


async def test_a_restarted_node_serves_its_saved_index_and_the_changes_made_since(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex
) -> None:
    path = tmp_path / "mme-node.sqlite3"
    async with restartable_node(path, bundled_release, gene_index) as node:
        assert await node.follower.start() == 0
        for patient_id in ("P1", "P2", "P3"):
            await node.patients.submit(OWNER, patient_json(patient_id, [AUTISM]))
    saved = IndexSnapshots(tmp_path / "match-index").latest()
    assert saved is not None and saved.patients == 3  # saved on stop

    other = SQLitePatientStore(path)  # another process, while the node is down
    await other.open()
    await other.delete(OWNER, "P2")
    await other.close()

    async with restartable_node(path, bundled_release, gene_index) as node:
        assert await node.follower.start() == 3  # from the snapshot, not the store
        assert node.follower.applied > saved.seq
        assert await matched_ids(node, AUTISM) == ["P1", "P3"]


async def test_the_first_start_builds_and_saves_the_index(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex
) -> None:
    path = tmp_path / "mme-node.sqlite3"
    async with restartable_node(path, bundled_release, gene_index) as node:
        await node.follower.start()
        await node.patients.submit(OWNER, patient_json("P1", [AUTISM]))
        saved = await node.follower.save_snapshot()
        assert saved is not None and saved.patients == 1
        assert await node.follower.save_snapshot() is None  # nothing new to save
    snapshots = IndexSnapshots(tmp_path / "match-index")
    loaded = snapshots.load(bundled_release, SHIPPED_DEFAULT_CONSENT)
    assert loaded is not None and len(loaded[0].index) == 1


async def test_a_deleted_patient_leaves_the_saved_index_at_the_next_poll(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex
) -> None:
    path = tmp_path / "mme-node.sqlite3"
    snapshots = IndexSnapshots(tmp_path / "match-index")
    async with restartable_node(path, bundled_release, gene_index) as node:
        await node.follower.start()
        for patient_id in ("P1", "P2"):
            await node.patients.submit(OWNER, patient_json(patient_id, [AUTISM]))
        await node.follower.save_snapshot()
        await node.patients.delete(OWNER, "P1")
        deadline = time.monotonic() + 60  # liveness only: it happens within a poll or two
        while (latest := snapshots.latest()) is None or latest.patients != 1:
            assert time.monotonic() < deadline, "the deletion never reached the saved index"
            await asyncio.sleep(0.02)
        saved = (tmp_path / "match-index" / latest.name / "keys-real.txt").read_text()
        assert "P2" in saved and "P1" not in saved
