"""normalise_patient: primary HPO ids, HGNC genes, every problem named by path."""

from __future__ import annotations

from typing import Any

import pytest

from hpo.errors import ObsoleteTermError, UnknownTermError
from hpo.ontology import ROOT, ObsoleteTerm, Ontology, TermRecord
from mme_node.errors import InvalidPatient
from mme_node.model import Contact, Feature, Gene, GenomicFeature, Patient, Variant
from mme_node.vocabulary.genes import GeneIndex, bundled_gene_index
from mme_node.vocabulary.normalise import derive_terms, normalise_patient


class DictTerms:
    """A tiny release: primary ids, alt ids, and obsolete ids (with or without a successor)."""

    primary = {"HP:0001250", "HP:0000252", "HP:0003593", "HP:0000006"}
    alternative = {"HP:0002279": "HP:0001250"}
    obsolete: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "HP:0000253": (("HP:0000252",), ()),  # replaced_by
        "HP:0009998": ((), ("HP:0000252",)),  # a single consider
        "HP:0009999": ((), ("HP:0001250", "HP:0000252")),  # two: no successor
    }

    branch = {
        "HP:0001250": "HP:0000118",
        "HP:0000252": "HP:0000118",
        "HP:0003593": "HP:0003674",
        "HP:0000006": "HP:0000005",
        "HP:0025834": "HP:0000118",
    }

    def is_descendant_or_self(self, term: str, ancestor: str) -> bool:
        return term == ancestor or self.branch.get(term) == ancestor

    def name(self, term: str) -> str:
        return f"name of {term}"

    def resolve(self, term_id: str, *, follow_consider: bool = False) -> str:
        if term_id in self.primary:
            return term_id
        if term_id in self.alternative:
            return self.alternative[term_id]
        if term_id in self.obsolete:
            replaced_by, consider = self.obsolete[term_id]
            if len(replaced_by) == 1:
                return replaced_by[0]
            if follow_consider and len(consider) == 1:
                return consider[0]
            raise ObsoleteTermError(term_id, consider)
        raise UnknownTermError(term_id, "not in this release")


class NewerTerms(DictTerms):
    """A later release: HP:0025834 exists, HP:0001250 became obsolete for HP:0000252."""

    primary = {"HP:0000252", "HP:0003593", "HP:0000006", "HP:0025834"}
    alternative = {"HP:0002279": "HP:0000252"}
    obsolete = DictTerms.obsolete | {"HP:0001250": (("HP:0000252",), ())}


@pytest.fixture(scope="module")
def genes() -> GeneIndex:
    return bundled_gene_index()


def patient(*features: Feature, genes: tuple[str, ...] = (), **fields: object) -> Patient:
    return Patient(
        id="P1",
        contact=Contact("Dr Who", "mailto:who@example.org"),
        features=features,
        genomic_features=tuple(GenomicFeature(Gene(g)) for g in genes),
    ).replace(**fields)


def test_primary_ids_are_left_alone(genes: GeneIndex) -> None:
    original = patient(Feature("HP:0001250"), Feature("HP:0000252", observed=False))
    assert normalise_patient(original, DictTerms(), genes) == (original, [])


def test_alt_id_maps_to_primary_and_keeps_the_submitted_id(genes: GeneIndex) -> None:
    result, warnings = normalise_patient(patient(Feature("HP:0002279")), DictTerms(), genes)
    assert result.features == (Feature("HP:0001250", submitted_id="HP:0002279"),)
    assert warnings == ["patient.features[0].id: HP:0002279 is now HP:0001250 in this HPO release"]


def test_obsolete_term_maps_to_its_replacement(genes: GeneIndex) -> None:
    result, _ = normalise_patient(patient(Feature("HP:0000253")), DictTerms(), genes)
    assert result.observed_terms == ("HP:0000252",)


def test_renormalising_keeps_the_first_submitted_id(genes: GeneIndex) -> None:
    once, _ = normalise_patient(patient(Feature("HP:0002279")), DictTerms(), genes)
    twice, _ = normalise_patient(once, DictTerms(), genes)
    assert twice == once


def test_onset_and_inheritance_ids_are_resolved(genes: GeneIndex) -> None:
    original = patient(
        Feature("HP:0001250", age_of_onset="HP:0003593"),
        age_of_onset="HP:0003593",
        inheritance_mode="HP:0000006",
    )
    assert normalise_patient(original, DictTerms(), genes)[0] == original


def test_unknown_term_is_kept_pending_with_a_warning_naming_path_and_value(
    genes: GeneIndex,
) -> None:
    result, warnings = normalise_patient(
        patient(Feature("HP:0001250"), Feature("HP:0025834")), DictTerms(), genes
    )
    assert result.features[1] == Feature("HP:0025834", pending=True)
    assert result.observed_terms == ("HP:0001250",) and result.pending_terms == ("HP:0025834",)
    assert warnings[0].startswith("patient.features[1].id: unknown HPO term 'HP:0025834'")
    assert "not used for matching until an HPO release knows it" in warnings[0]


def test_obsolete_term_without_a_single_successor_is_kept_pending_with_suggestions(
    genes: GeneIndex,
) -> None:
    result, warnings = normalise_patient(patient(Feature("HP:0009999")), DictTerms(), genes)
    assert result.features == (Feature("HP:0009999", pending=True),)
    assert "patient.features[0].id" in warnings[0]
    assert "consider HP:0001250, HP:0000252" in warnings[0]


def test_obsolete_term_with_a_single_consider_becomes_that_term(genes: GeneIndex) -> None:
    result, _ = normalise_patient(patient(Feature("HP:0009998")), DictTerms(), genes)
    assert result.features == (Feature("HP:0000252", submitted_id="HP:0009998"),)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"age_of_onset": "HP:0000002"}, "patient.ageOfOnset"),
        ({"inheritance_mode": "HP:0000002"}, "patient.inheritanceMode"),
        (
            {"features": (Feature("HP:0001250", age_of_onset="HP:0000002"),)},
            "patient.features[0].ageOfOnset",
        ),
    ],
)
def test_unknown_onset_or_inheritance_term_is_kept_as_submitted_with_a_warning(
    genes: GeneIndex, change: dict[str, Any], path: str
) -> None:
    result, warnings = normalise_patient(
        patient(Feature("HP:0001250"), **change), DictTerms(), genes
    )
    assert result == patient(Feature("HP:0001250"), **change)
    assert warnings == [
        f"{path}: unknown HPO term 'HP:0000002': not in this release; kept as submitted"
    ]


def test_repeats_of_one_submitted_id_merge_into_the_first(genes: GeneIndex) -> None:
    original = patient(Feature("HP:0001250"), Feature("HP:0000252"), Feature("HP:0001250"))
    result, warnings = normalise_patient(original, DictTerms(), genes)
    assert [f.id for f in result.features] == ["HP:0001250", "HP:0000252"]
    assert "patient.features[2]: repeats patient.features[0] (HP:0001250); merged" in warnings


def test_two_submitted_ids_of_one_term_are_both_kept_and_matched_once(genes: GeneIndex) -> None:
    original = patient(Feature("HP:0001250"), Feature("HP:0000252"), Feature("HP:0002279"))
    result, _ = normalise_patient(original, DictTerms(), genes)
    assert [f.source_id for f in result.features] == ["HP:0001250", "HP:0000252", "HP:0002279"]
    assert result.observed_terms == ("HP:0001250", "HP:0000252")


def test_observed_wins_over_excluded_for_the_same_term(genes: GeneIndex) -> None:
    original = patient(
        Feature("HP:0001250", observed=False), Feature("HP:0000252"), Feature("HP:0002279")
    )
    result, warnings = normalise_patient(original, DictTerms(), genes)
    assert result.observed_terms == ("HP:0000252", "HP:0001250")
    assert result.excluded_terms == ()
    same = normalise_patient(
        patient(Feature("HP:0001250", observed=False), Feature("HP:0001250")), DictTerms(), genes
    )
    assert same[0].features == (Feature("HP:0001250"),)
    assert any("both observed and excluded" in w for w in same[1])


def test_genes_get_their_hgnc_identity(genes: GeneIndex) -> None:
    result, _ = normalise_patient(
        patient(Feature("HP:0001250"), genes=("MLL2", "ENSG00000108883")), DictTerms(), genes
    )
    assert [g.gene for g in result.genomic_features] == [
        Gene("MLL2", "HGNC:7133", "KMT2D", "ENSG00000167548", "8085"),
        Gene("ENSG00000108883", "HGNC:30858", "EFTUD2", "ENSG00000108883", "9343"),
    ]
    assert result.gene_ids == ("HGNC:7133", "HGNC:30858")


def test_variant_and_zygosity_survive_gene_normalisation(genes: GeneIndex) -> None:
    variant = Variant("GRCh37", "17", 42929130, 42929131, "G", "A")
    original = patient(Feature("HP:0001250")).replace(
        genomic_features=(GenomicFeature(Gene("EFTUD2"), variant, zygosity=1),)
    )
    result, _ = normalise_patient(original, DictTerms(), genes)
    assert (result.genomic_features[0].variant, result.genomic_features[0].zygosity) == (
        variant,
        1,
    )


def test_no_gene_marker_is_kept_unresolved_with_a_warning(genes: GeneIndex) -> None:
    result, warnings = normalise_patient(
        patient(Feature("HP:0001250"), genes=("NA",)), DictTerms(), genes
    )
    assert result.genomic_features[0].gene == Gene("NA")
    assert result.gene_ids == ()
    assert warnings == [
        'patient.genomicFeatures[0].gene.id: "NA" means no gene; not used for matching'
    ]


def test_unknown_and_ambiguous_genes_are_all_reported(genes: GeneIndex) -> None:
    with pytest.raises(InvalidPatient) as raised:
        normalise_patient(
            patient(Feature("HP:0001250"), genes=("EFTUD2", "NOTAGENE1", "MLL4")),
            DictTerms(),
            genes,
        )
    first, second = raised.value.message.split("; ")
    assert first.startswith('patient.genomicFeatures[1].gene.id: "NOTAGENE1" is not a known')
    assert second.startswith('patient.genomicFeatures[2].gene.id: "MLL4" is ambiguous')


def test_a_real_hpo_ontology_is_a_term_resolver(genes: GeneIndex) -> None:
    def term(term_id: str, *parents: str) -> TermRecord:
        return TermRecord(term_id, term_id, "", (), parents)

    ontology = Ontology.from_terms(
        "2025-01-16",
        [term(ROOT), term("HP:0000118", ROOT), term("HP:0001250", "HP:0000118")],
        alt_ids={"HP:0002279": "HP:0001250"},
        obsolete={"HP:0009999": ObsoleteTerm(consider=("HP:0001250",))},
    )
    result, _ = normalise_patient(patient(Feature("HP:0002279")), ontology, genes)
    assert result.features == (Feature("HP:0001250", submitted_id="HP:0002279"),)
    result, _ = normalise_patient(patient(Feature("HP:0009999")), ontology, genes)
    assert result.features == (Feature("HP:0001250", submitted_id="HP:0009999"),)


def test_deriving_with_a_newer_release_and_back_restores_the_terms_exactly(
    genes: GeneIndex,
) -> None:
    submitted = patient(
        Feature("HP:0001250"),
        Feature("HP:0002279", observed=False),
        Feature("HP:0025834"),
        Feature("HP:0009999"),
    )
    old, _ = normalise_patient(submitted, DictTerms(), genes)

    new = derive_terms(old, NewerTerms())
    back = derive_terms(new, DictTerms())

    assert new.observed_terms == ("HP:0000252", "HP:0025834")  # replaced, and no longer pending
    assert new.excluded_terms == ()  # HP:0002279 now means HP:0000252, observed
    assert back == old
    assert [f.source_id for f in new.features] == [f.source_id for f in submitted.features]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"features": (Feature("HP:0000006"),)},
            "patient.features[0].id: HP:0000006 (name of HP:0000006) is not a phenotypic feature",
        ),
        (
            {"age_of_onset": "HP:0001250"},
            "patient.ageOfOnset: HP:0001250 (name of HP:0001250) is not an age of onset",
        ),
        (
            {"inheritance_mode": "HP:0001250"},
            "patient.inheritanceMode: HP:0001250 (name of HP:0001250) is not a mode of inheritance",
        ),
        (
            {"features": (Feature("HP:0001250", age_of_onset="HP:0000252"),)},
            "patient.features[0].ageOfOnset: HP:0000252 (name of HP:0000252) is not an age",
        ),
    ],
)
def test_a_term_from_the_wrong_branch_is_refused_naming_the_field(
    genes: GeneIndex, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidPatient) as raised:
        normalise_patient(patient(Feature("HP:0001250")).replace(**fields), DictTerms(), genes)
    assert raised.value.message.startswith(message)


def test_terms_in_their_branches_are_accepted(genes: GeneIndex) -> None:
    fine = patient(
        Feature("HP:0001250", age_of_onset="HP:0003593"),
        age_of_onset="HP:0003593",
        inheritance_mode="HP:0000006",
    )
    assert normalise_patient(fine, DictTerms(), genes) == (fine, [])
