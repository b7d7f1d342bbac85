"""Choosing the best rows: the early floor never drops a row the full ranking keeps."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from matching_samples import CONTACT_HREF

from hpo import Release
from mme_node.matching.index import Partition
from mme_node.matching.matcher import Matcher, reached_by_best
from mme_node.matching.phenotype import BLEND, DEFAULT_MODEL, PhenotypeScorer, contradictions
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.model import Contact, Feature, Gene, GenomicFeature, Patient, PatientRecord
from mme_node.stores.sqlite import SQLitePatientStore


def random_picture(
    chance: random.Random, patient_id: str, terms: list[str], size: int, genes: Sequence[str] = ()
) -> Patient:
    """A patient of ``size`` distinct ``terms``: the first half observed, up to the rest
    excluded; with one of ``genes`` if any are given."""
    picked = chance.sample(terms, size)
    half = size // 2
    excluded = picked[half : chance.randint(half, size)]
    gene = chance.choice(genes) if genes else None
    return Patient(
        id=patient_id,
        contact=Contact(name="Dr. Example", href=CONTACT_HREF),
        features=tuple(Feature(t) for t in picked[:half])
        + tuple(Feature(t, observed=False) for t in excluded),
        genomic_features=(GenomicFeature(Gene(id="g", hgnc_id=gene)),) if gene else (),
    )


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


class RecordingScorer:
    """The node's phenotype scorer, noting how many rows each call scores."""

    def __init__(self, scorer: PhenotypeScorer) -> None:
        self.scorer = scorer
        self.scored: list[int] = []

    def score(
        self,
        release: Release,
        partition: Partition,
        observed: list[str],
        excluded: list[str],
        rows: npt.NDArray[np.int64] | None = None,
    ) -> npt.NDArray[np.float64]:
        scores = self.scorer.score(release, partition, observed, excluded, rows)
        self.scored.append(len(scores))
        return scores


@pytest.mark.parametrize("model", [DEFAULT_MODEL, BLEND])
def test_scoring_first_the_patients_sharing_a_gene_ranks_as_scoring_everyone(
    bundled_release: Release, annotated_terms: list[str], tmp_path: Path, model: str
) -> None:
    store = SQLitePatientStore(tmp_path / "never-opened.sqlite3")  # ranking reads no store
    matcher = Matcher(Serving.of(bundled_release), store, ScoringWeights(phenotype_model=model))
    recording = RecordingScorer(matcher.phenotype)
    matcher.phenotype = recording
    chance = random.Random(7)
    genes = [f"HGNC:{number}" for number in range(1, 41)]  # about 150 patients each
    terms = annotated_terms[:300]
    for number in range(6_000):
        patient = random_picture(chance, f"P{number}", terms, 6, genes)
        matcher.index.add(PatientRecord("clinic-a", patient, "2025-01-16", "{}"))
    for number in range(0, 6_000, 7):  # removed patients keep their rows until compaction
        matcher.index.remove(("clinic-a", f"P{number}"))
    for attempt in range(6):
        picked = chance.sample(terms, 6)
        query = Patient(
            id="Q",
            contact=Contact(name="Peer", href="https://peer.example.org"),
            features=tuple(Feature(t) for t in picked[:4])
            + tuple(Feature(t, observed=False) for t in picked[4:]),
            genomic_features=(GenomicFeature(Gene(id="g", hgnc_id=genes[attempt])),),
        )
        recording.scored.clear()
        everyone = matcher.rank(query, limit=6_000)
        assert recording.scored == [matcher.index.real.observed.rows]  # too many to skip any
        recording.scored.clear()
        own = ("clinic-a", everyone[1].key[1])  # the query's own record is left out
        best = matcher.rank(query, limit=5, exclude=own)
        assert len(recording.scored) == 1 and recording.scored[0] < 300  # the gene's patients
        assert best == [candidate for candidate in everyone if candidate.key != own][:5]
        assert len({candidate.key for candidate in best}) == 5


def test_patients_sharing_a_gene_that_do_not_outscore_the_rest_lead_to_scoring_everyone(
    bundled_release: Release, annotated_terms: list[str], tmp_path: Path
) -> None:
    store = SQLitePatientStore(tmp_path / "never-opened.sqlite3")
    matcher = Matcher(Serving.of(bundled_release), store, ScoringWeights(gene=0.0))
    recording = RecordingScorer(matcher.phenotype)
    matcher.phenotype = recording
    contact = Contact(name="Dr. Example", href=CONTACT_HREF)
    chance = random.Random(11)
    for number in range(400):
        gene = "HGNC:1" if number % 10 == 0 else "HGNC:2"
        patient = Patient(
            id=f"P{number}",
            contact=contact,
            features=tuple(Feature(t) for t in chance.sample(annotated_terms[:300], 4)),
            genomic_features=(GenomicFeature(Gene(id="g", hgnc_id=gene)),),
        )
        matcher.index.add(PatientRecord("clinic-a", patient, "2025-01-16", "{}"))
    query = Patient(
        id="Q",
        contact=Contact(name="Peer", href="https://peer.example.org"),
        features=tuple(Feature(t) for t in chance.sample(annotated_terms[:300], 4)),
        genomic_features=(GenomicFeature(Gene(id="g", hgnc_id="HGNC:1")),),
    )
    best = matcher.rank(query, limit=5)
    # Weighing genes at 0, the gene's 40 patients cannot outscore a perfect phenotype.
    assert recording.scored == [40, 400]
    assert best == matcher.rank(query, limit=400)[:5]


def test_contradictions_of_some_rows_are_those_rows_counted_among_all(
    bundled_release: Release, annotated_terms: list[str], tmp_path: Path
) -> None:
    store = SQLitePatientStore(tmp_path / "never-opened.sqlite3")
    matcher = Matcher(Serving.of(bundled_release), store, ScoringWeights())
    chance = random.Random(5)
    terms = annotated_terms[:60]  # few terms: many contradictions
    for number in range(300):
        patient = random_picture(chance, f"P{number}", terms, 8)
        matcher.index.add(PatientRecord("clinic-a", patient, "2025-01-16", "{}"))
    partition = matcher.index.real
    observed, excluded = terms[:5], terms[5:9]
    every = contradictions(bundled_release, partition, observed, excluded)
    assert every is not None and every.max() > 1
    rows = np.array([299, 0, 17, 17, 150], dtype=np.int64)
    some = contradictions(bundled_release, partition, observed, excluded, rows)
    assert some is not None
    assert some.tolist() == every[rows].tolist()
