"""The match index: partitions, inverted indexes and the MME metrics counts."""

from __future__ import annotations

import random
from typing import Any

import pytest
from matching_samples import CONTACT_HREF, patient_json, prepared, record_of, snv

from hpo import Release
from mme_node.matching.index import MatchIndex, Partition, matrix_key, patient_key
from mme_node.model import Feature, Patient
from mme_node.vocabulary.genes import GeneIndex

AUTISM = "HP:0000717"
GAIT_ATAXIA = "HP:0002066"
VSD = "HP:0001629"


def live_keys(partition: Partition, rows: Any) -> list[str]:
    """The patient ids of the live rows among ``rows``."""
    keys = (partition.observed.key(int(row)) for row in rows)
    return sorted(patient_key(key)[1] for key in keys if key is not None)


@pytest.fixture
def index(bundled_release: Release) -> MatchIndex:
    return MatchIndex(bundled_release.ontology)


@pytest.fixture
def patient(bundled_release: Release, gene_index: GeneIndex) -> Any:
    def make(patient_id: str, *observed: str, **fields: Any) -> Patient:
        return prepared(
            patient_json(patient_id, observed, **fields), bundled_release.ontology, gene_index
        )

    return make


@pytest.mark.parametrize(
    "key", [("clinic-a", "P1"), ("clinic", 'id with "quotes", commas'), ("b", "ünïcode/√")]
)
def test_matrix_key_round_trips_any_owner_and_id(key: tuple[str, str]) -> None:
    assert patient_key(matrix_key(key)) == key


def test_matrix_keys_of_different_patients_differ() -> None:
    assert matrix_key(("a,b", "c")) != matrix_key(("a", "b,c"))


def test_counts_describe_real_patients_only(index: MatchIndex, patient: Any) -> None:
    index.add(record_of(patient("P1", AUTISM, VSD, genes=["SCN1A"], disorders=["MIM:607208"])))
    index.add(
        record_of(
            patient("P2", AUTISM, variants=[("SCN1A", snv(1000)), ("PTEN", snv(5))]),
            owner="clinic-b",
        )
    )
    index.add(record_of(patient("T1", GAIT_ATAXIA, genes=["KMT2D"], test=True), owner="demo"))
    assert index.counts() == {
        "numberOfCases": 2,
        "numberOfSubmitters": 2,
        "numberOfGenes": 3,
        "numberOfUniqueGenes": 2,
        "numberOfVariants": 2,
        "numberOfUniqueVariants": 2,
        "numberOfFeatures": 3,
        "numberOfUniqueFeatures": 2,
        "numberOfCasesWithDiagnosis": 1,
    }
    assert len(index) == 3


def test_removing_a_patient_forgets_its_genes_variants_and_terms(
    index: MatchIndex, patient: Any
) -> None:
    index.add(record_of(patient("P1", AUTISM, variants=[("SCN1A", snv(1000))])))
    index.add(record_of(patient("P2", VSD, genes=["PTEN"])))
    index.remove(("clinic-a", "P1"))
    real = index.real
    assert live_keys(real, real.rows_with_genes(["HGNC:10585", "HGNC:9588"])) == ["P2"]
    assert (
        live_keys(
            real,
            real.rows_with_alleles(
                patient("Q", AUTISM, variants=[("SCN1A", snv(1000))]).allele_keys
            ),
        )
        == []
    )
    assert live_keys(real, real.own_rows("P1", CONTACT_HREF)) == []
    counts = index.counts()
    assert (counts["numberOfCases"], counts["numberOfFeatures"]) == (1, 1)


def test_replacing_a_patient_keeps_one_entry_with_the_new_content(
    index: MatchIndex, patient: Any
) -> None:
    index.add(record_of(patient("P1", AUTISM, genes=["SCN1A"])))
    index.add(record_of(patient("P1", VSD, GAIT_ATAXIA, genes=["PTEN"])))
    key = matrix_key(("clinic-a", "P1"))
    assert set(index.real.observed.terms(key)) == {VSD, GAIT_ATAXIA}
    assert live_keys(index.real, index.real.rows_with_genes(["HGNC:9588"])) == ["P1"]
    assert live_keys(index.real, index.real.rows_with_genes(["HGNC:10585"])) == []
    assert len(index) == 1


def test_changing_the_test_flag_moves_a_patient_between_partitions(
    index: MatchIndex, patient: Any
) -> None:
    index.add(record_of(patient("P1", AUTISM)))
    index.add(record_of(patient("P1", AUTISM, test=True)))
    assert len(index.real) == 0
    assert matrix_key(("clinic-a", "P1")) in index.test
    index.add(record_of(patient("P1", AUTISM)))
    assert len(index.test) == 0
    assert len(index.real) == 1


def test_patient_without_phenotype_gets_an_empty_row(index: MatchIndex, patient: Any) -> None:
    index.add(record_of(patient("P1", genes=["SCN1A"])))
    key = matrix_key(("clinic-a", "P1"))
    assert key in index.real.observed
    assert index.real.observed.terms(key) == ()


def test_terms_unknown_to_the_active_release_are_left_out(
    index: MatchIndex, patient: Any, bundled_release: Release
) -> None:
    """A patient normalised with another release may carry terms this one lacks."""
    old = patient("P1", AUTISM, excluded=[VSD])
    old = old.replace(
        features=(*old.features, Feature("HP:9999999"), Feature("HP:9999998", observed=False))
    )
    index.add(record_of(old))
    key = matrix_key(("clinic-a", "P1"))
    assert index.real.observed.terms(key) == (AUTISM,)
    excluded = index.real.excluded.row(index.real.observed.row(key))
    assert [bundled_release.ontology.term_id(int(term)) for term in excluded] == [VSD]


def test_clear_empties_both_partitions(index: MatchIndex, patient: Any) -> None:
    index.add(record_of(patient("P1", AUTISM)))
    index.add(record_of(patient("T1", AUTISM, test=True)))
    index.clear()
    assert len(index) == 0
    assert index.counts()["numberOfCases"] == 0


def test_counts_after_many_changes_equal_those_of_a_fresh_index(
    bundled_release: Release, patient: Any, annotated_terms: list[str]
) -> None:
    chance = random.Random(9)
    index = MatchIndex(bundled_release.ontology)
    final: dict[tuple[str, str], Any] = {}
    for _ in range(400):
        key = (chance.choice(["clinic-a", "clinic-b", "clinic-c"]), f"P{chance.randrange(60)}")
        if chance.random() < 0.3:
            index.remove(key)
            final.pop(key, None)
            continue
        record = record_of(
            patient(
                key[1],
                *chance.sample(annotated_terms[:40], chance.randint(0, 5)),
                genes=chance.sample(["SCN1A", "PTEN", "KMT2D", "MECP2"], chance.randint(1, 2)),
                variants=[("SCN1A", snv(chance.randrange(3)))] if chance.random() < 0.3 else [],
                disorders=["MIM:607208"] if chance.random() < 0.3 else [],
                test=chance.random() < 0.2,
            ),
            owner=key[0],
        )
        index.add(record)
        final[key] = record
    fresh = MatchIndex(bundled_release.ontology)
    for record in final.values():
        fresh.add(record)
    assert index.counts() == fresh.counts()
    assert index.counts()["numberOfCases"] == sum(not r.patient.test for r in final.values())


def test_an_owner_whose_last_patient_is_removed_is_no_longer_a_submitter(
    index: MatchIndex, patient: Any
) -> None:
    index.add(record_of(patient("P1", AUTISM), owner="clinic-a"))
    index.add(record_of(patient("P1", AUTISM), owner="clinic-b"))
    index.remove(("clinic-b", "P1"))
    assert index.counts()["numberOfSubmitters"] == 1


def test_picture_rows_stay_aligned_with_observed_rows_through_removals_and_compaction(
    bundled_release: Release, patient: Any, annotated_terms: list[str]
) -> None:
    """Row r of the picture matrix is the patient of observed row r, observed and excluded."""
    chance = random.Random(4)
    index = MatchIndex(bundled_release.ontology)
    partition = index.real
    generation = partition.observed.generation
    for number in range(3000):  # enough removals for both matrices to compact
        key = ("clinic-a", f"P{chance.randrange(800)}")
        if chance.random() < 0.4:
            index.remove(key)
            continue
        observed = chance.sample(annotated_terms[:60], chance.randint(0, 4))
        excluded = [t for t in chance.sample(annotated_terms[:60], 3) if t not in observed]
        negatives = excluded[: number % 4]
        index.add(record_of(patient(key[1], *observed, excluded=negatives, genes=["PTEN"])))
    assert partition.observed.generation > generation
    observed_matrix, picture = partition.observed, partition.picture
    ontology = bundled_release.ontology
    assert (picture.rows, picture.generation) == (observed_matrix.rows, observed_matrix.generation)
    for row in range(observed_matrix.rows):
        key = observed_matrix.key(row)
        assert picture.key(row) == key
        if key is not None:
            excluded = {ontology.term_id(int(term)) for term in partition.excluded.row(row)}
            assert set(picture.terms(key)) == {*observed_matrix.terms(key), *excluded}


def test_lookups_after_many_replacements_and_a_compaction_equal_a_fresh_index(
    bundled_release: Release, patient: Any, annotated_terms: list[str]
) -> None:
    chance = random.Random(4)
    index = MatchIndex(bundled_release.ontology)
    genes = {"SCN1A": "HGNC:10585", "PTEN": "HGNC:9588", "KMT2D": "HGNC:7133"}
    final: dict[str, list[str]] = {}
    for _ in range(2600):  # past the postings' rebuild and the partition's compaction
        patient_id = f"P{chance.randrange(300)}"
        chosen = chance.sample(sorted(genes), chance.randint(1, 2))
        excluded = [annotated_terms[chance.randrange(5)]] if chance.random() < 0.2 else []
        index.add(
            record_of(patient(patient_id, annotated_terms[0], genes=chosen, excluded=excluded))
        )
        final[patient_id] = chosen
    real = index.real
    assert real.observed.rows < 2600  # compacted on the way
    for symbol, hgnc_id in genes.items():
        expected = sorted(p for p, chosen in final.items() if symbol in chosen)
        assert live_keys(real, real.rows_with_genes([hgnc_id])) == expected
    assert live_keys(real, real.own_rows("P7", CONTACT_HREF)) == ["P7"]
    assert live_keys(real, real.own_rows("P7", "https://other.example.org")) == []
