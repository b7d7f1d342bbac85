"""Fixtures of tests/matching: the bundled release, its informative terms, a small node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from matching_samples import MatchingNode

from hpo import Release
from mme_node.matching.follower import ChangeFollower
from mme_node.matching.matcher import Matcher
from mme_node.matching.phenotype import BLEND
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.services.patients import PatientService
from mme_node.stores.changes import ChangeLog
from mme_node.stores.sqlite import SQLitePatientStore
from mme_node.vocabulary.genes import GeneIndex, bundled_gene_index

PHENOTYPIC_ABNORMALITY = "HP:0000118"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def gene_index() -> GeneIndex:
    return bundled_gene_index()


@pytest.fixture(scope="session")
def annotated_terms(bundled_release: Release) -> list[str]:
    """Phenotype terms that diseases are annotated to (IC below that of unannotated terms)."""
    ontology = bundled_release.ontology
    ic = bundled_release.information_content.values
    return [
        ontology.term_id(int(index))
        for index in ontology.descendants(PHENOTYPIC_ABNORMALITY)
        if 0 < ic[index] < ic.max()
    ]


@asynccontextmanager
async def matching_node(
    path: Path, release: Release, genes: GeneIndex, weights: ScoringWeights
) -> AsyncIterator[MatchingNode]:
    """A patient service on a real SQLite store, its follower and a matcher with ``weights``."""
    store = SQLitePatientStore(path / "mme-node.sqlite3")
    await store.open()
    serving = Serving.of(release)
    matcher = Matcher(serving, store, weights)
    changes = ChangeLog(store.path)
    follower = ChangeFollower(
        changes, matcher, lambda key: release, pseudonyms=Pseudonyms.in_data_dir(path)
    )
    patients = PatientService(store=store, serving=serving, genes=genes, listeners=[follower])
    try:
        yield MatchingNode(store=store, patients=patients, matcher=matcher, follower=follower)
    finally:
        changes.close()
        await store.close()


@pytest.fixture
async def node(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex
) -> AsyncIterator[MatchingNode]:
    """A node with the default scoring (the learned phenotype model)."""
    async with matching_node(tmp_path, bundled_release, gene_index, ScoringWeights()) as made:
        yield made


@pytest.fixture
async def blend_node(
    tmp_path: Path, bundled_release: Release, gene_index: GeneIndex
) -> AsyncIterator[MatchingNode]:
    """A node with the previous default (``phenotype_model = "blend"``)."""
    weights = ScoringWeights(phenotype_model=BLEND)
    async with matching_node(tmp_path, bundled_release, gene_index, weights) as made:
        yield made
