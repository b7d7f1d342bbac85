"""Choosing the best rows: the early floor never drops a row the full ranking keeps."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from matching_samples import CONTACT_HREF

from hpo import Release
from mme_node.matching.matcher import Matcher, reached_by_best
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.model import Contact, Feature, Gene, GenomicFeature, Patient, PatientRecord
from mme_node.stores.sqlite import SQLitePatientStore


@pytest.mark.parametrize("seed", range(5))
def test_every_one_of_the_best_scores_reaches_the_floor(seed: int) -> None:
    chance = np.random.default_rng(seed)
    scores = np.round(chance.random(chance.integers(1_000, 60_000)), 2)  # many ties
    scores[chance.integers(0, len(scores), 50)] = -1.0
    ordered = np.sort(scores)[::-1]
    for limit in (1, 2, 5, 20):
        assert ordered[limit - 1] >= reached_by_best(scores, limit)


def test_floor_is_unknown_when_blocks_are_fewer_than_the_limit() -> None:
    assert reached_by_best(np.ones(5_000), 5) == -np.inf
    assert reached_by_best(np.ones(5_000), 0) == -np.inf
    assert reached_by_best(np.ones(5_120), 5) == 1.0


def test_top_five_of_many_equal_the_head_of_the_full_ranking(
    bundled_release: Release, annotated_terms: list[str], tmp_path: Path
) -> None:
    store = SQLitePatientStore(tmp_path / "never-opened.sqlite3")  # ranking reads no store
    matcher = Matcher(Serving.of(bundled_release), store, ScoringWeights())
    chance = random.Random(3)
    genes = ["HGNC:10585", "HGNC:9588", "HGNC:7133"]
    contact = Contact(name="Dr. Example", href=CONTACT_HREF)
    for number in range(8_000):
        patient = Patient(
            id=f"P{number}",
            contact=contact,
            features=tuple(Feature(t) for t in chance.sample(annotated_terms[:300], 3)),
            genomic_features=(GenomicFeature(Gene(id="g", hgnc_id=chance.choice(genes))),),
        )
        matcher.index.add(PatientRecord("clinic-a", patient, "2025-01-16", "{}"))
    for attempt in range(5):
        query = Patient(
            id="Q",
            contact=Contact(name="Peer", href="https://peer.example.org"),
            features=tuple(Feature(t) for t in chance.sample(annotated_terms[:300], 4)),
            genomic_features=(GenomicFeature(Gene(id="g", hgnc_id=genes[attempt % 3])),),
        )
        everyone = matcher.rank(query, limit=8_000)
        assert matcher.rank(query, limit=5) == everyone[:5]
