"""Explanations: shared genotype and disorders, each query term's best match, contradictions."""

from __future__ import annotations

import random
from typing import Any

import pytest
from matching_samples import patient_json, prepared, snv

from hpo import Release
from mme_node.matching.explain import explain
from mme_node.model import Contact, Gene, GenomicFeature, Patient, Variant
from mme_node.vocabulary.genes import GeneIndex
from mme_node.vocabulary.liftover import VariantLifter

SEIZURE = "HP:0001250"
TONIC_CLONIC_SEIZURE = "HP:0002069"
AUTISM = "HP:0000717"
AUTISTIC_BEHAVIOR = "HP:0000729"
VSD = "HP:0001629"


@pytest.fixture
def patient(bundled_release: Release, gene_index: GeneIndex) -> Any:
    def make(patient_id: str, *observed: str, **fields: Any) -> Patient:
        return prepared(
            patient_json(patient_id, observed, **fields), bundled_release.ontology, gene_index
        )

    return make


def test_shared_genes_are_named_by_symbol_whatever_the_query_used(
    bundled_release: Release, patient: Any
) -> None:
    query = patient("Q", AUTISM, genes=["ENSG00000144285", "6323", "HGNC:9588"])
    candidate = patient("P1", AUTISM, genes=["scn1a", "PTEN", "KMT2D"])
    assert explain(bundled_release, query, candidate).shared_genes == ("PTEN", "SCN1A")


def test_shared_variants_and_disorders_are_listed(bundled_release: Release, patient: Any) -> None:
    query = patient(
        "Q", variants=[("SCN1A", snv(1000)), ("SCN1A", snv(7))], disorders=["MIM:1", "MIM:2"]
    )
    candidate = patient("P1", variants=[("SCN1A", snv(1000))], disorders=["MIM:2", "MIM:3"])
    explanation = explain(bundled_release, query, candidate)
    assert explanation.shared_variants == ("GRCH37:2:1000:C>T",)
    assert explanation.shared_disorders == ("MIM:2",)


def test_each_query_term_gets_the_candidate_term_with_the_most_informative_common_ancestor(
    bundled_release: Release, annotated_terms: list[str], patient: Any
) -> None:
    similarity = bundled_release.similarity
    ontology = bundled_release.ontology
    chance = random.Random(5)
    for attempt in range(20):
        query = patient("Q", *chance.sample(annotated_terms, chance.randint(1, 8)))
        candidate = patient("P1", *chance.sample(annotated_terms, chance.randint(1, 8)))
        matches = explain(bundled_release, query, candidate).term_matches
        assert [m.query_term for m in matches] == list(query.observed_terms)
        for match in matches:
            micas = [
                similarity.most_informative_common_ancestor(match.query_term, term)
                for term in candidate.observed_terms
            ]
            best = max(range(len(micas)), key=lambda i: (micas[i][1], -i))
            assert match.candidate_term == candidate.observed_terms[best], attempt
            assert match.common_ancestor == micas[best][0]
            assert match.information_content == pytest.approx(micas[best][1], abs=5e-5)
            assert match.query_label == ontology.name(match.query_term)
            assert match.candidate_label == ontology.name(match.candidate_term)
            assert match.common_ancestor_label == ontology.name(match.common_ancestor)


def test_identical_term_is_its_own_best_match(bundled_release: Release, patient: Any) -> None:
    query = patient("Q", AUTISM)
    candidate = patient("P1", VSD, AUTISM)
    [match] = explain(bundled_release, query, candidate).term_matches
    assert (match.candidate_term, match.common_ancestor) == (AUTISM, AUTISM)


def test_candidate_without_phenotype_gives_no_term_matches(
    bundled_release: Release, patient: Any
) -> None:
    explanation = explain(bundled_release, patient("Q", AUTISM), patient("P1", genes=["PTEN"]))
    assert explanation.term_matches == ()


def test_contradictions_of_both_sides_are_listed(bundled_release: Release, patient: Any) -> None:
    query = patient("Q", TONIC_CLONIC_SEIZURE, VSD, excluded=[AUTISTIC_BEHAVIOR])
    candidate = patient("P1", AUTISM, VSD, excluded=[SEIZURE])
    assert explain(bundled_release, query, candidate).conflicting_terms == (
        TONIC_CLONIC_SEIZURE,
        AUTISM,
    )


def test_no_contradiction_when_exclusions_concern_other_branches(
    bundled_release: Release, patient: Any
) -> None:
    query = patient("Q", SEIZURE, excluded=[VSD])
    candidate = patient("P1", AUTISM, excluded=[TONIC_CLONIC_SEIZURE])
    assert explain(bundled_release, query, candidate).conflicting_terms == ()


def test_a_variant_shared_across_assemblies_is_listed_once_as_the_candidate_gave_it(
    bundled_release: Release,
) -> None:
    braf = Gene("BRAF", hgnc_id="HGNC:1097")
    on_37 = Variant("GRCh37", "7", 140453135, 140453136, "A", "T")
    lifted_37 = VariantLifter().with_lift(on_37)
    on_38 = Variant("GRCh38", "7", 140753335, 140753336, "A", "T")
    contact = Contact("Dr", "mailto:dr@example.org")

    def carrying(patient_id: str, variant: Variant) -> Patient:
        return Patient(patient_id, contact, genomic_features=(GenomicFeature(braf, variant),))

    for query, candidate, shown in [
        (carrying("Q", on_38), carrying("P1", lifted_37), "GRCH37:7:140453135:A>T"),
        (carrying("Q", lifted_37), carrying("P1", lifted_37), "GRCH37:7:140453135:A>T"),
        (carrying("Q", lifted_37), carrying("P1", on_38), "GRCH38:7:140753335:A>T"),
    ]:
        assert explain(bundled_release, query, candidate).shared_variants == (shown,)


def test_picture_explanations_match_excluded_terms_and_list_shared_negatives(
    bundled_release: Release, patient: Any
) -> None:
    query = patient("Q", AUTISM, excluded=[SEIZURE, VSD])
    candidate = patient("P1", TONIC_CLONIC_SEIZURE, excluded=[VSD, AUTISTIC_BEHAVIOR])
    explanation = explain(bundled_release, query, candidate, pictures=True)
    assert explanation.shared_excluded_terms == (VSD,)
    by_query_term = {m.query_term: m for m in explanation.term_matches}
    assert set(by_query_term) == {AUTISM, SEIZURE, VSD}
    seizure = by_query_term[SEIZURE]
    assert (seizure.candidate_term, seizure.query_observed, seizure.candidate_observed) == (
        TONIC_CLONIC_SEIZURE,
        False,
        True,
    )
    autism = by_query_term[AUTISM]
    assert (autism.candidate_term, autism.common_ancestor) == (AUTISTIC_BEHAVIOR, AUTISTIC_BEHAVIOR)
    assert not autism.candidate_observed
    assert by_query_term[VSD].candidate_term == VSD


def test_without_pictures_excluded_terms_are_left_out_of_term_matches(
    bundled_release: Release, patient: Any
) -> None:
    query = patient("Q", AUTISM, excluded=[SEIZURE, VSD])
    candidate = patient("P1", TONIC_CLONIC_SEIZURE, excluded=[VSD])
    explanation = explain(bundled_release, query, candidate)
    assert [m.query_term for m in explanation.term_matches] == [AUTISM]
    assert all(m.query_observed and m.candidate_observed for m in explanation.term_matches)
    assert explanation.shared_excluded_terms == ()
