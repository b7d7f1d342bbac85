"""What a recipient is shown of a patient at each level, and what explanations may say."""

from __future__ import annotations

from mme_node.model import (
    Consent,
    Contact,
    DisclosureLevel,
    Explanation,
    Feature,
    Gene,
    GenomicFeature,
    OntologyClass,
    Patient,
    Sex,
    Sharing,
    TermMatch,
    Variant,
)
from mme_node.security.disclosure import (
    WITHHELD,
    Recipient,
    as_result,
    disclosed,
    disclosed_explanation,
)

CONTACT = Contact("Dr Ada", "mailto:ada@example.org", institution="Example Hospital")
BRAF = Gene("BRAF", hgnc_id="HGNC:1097", symbol="BRAF")
V600E = Variant("GRCh38", "7", 140753335, 140753336, "A", "T")
PATIENT = Patient(
    id="ward-7-bed-3",
    contact=CONTACT,
    label="Smith baby, twin B",
    species="NCBITaxon:9606",
    sex=Sex.FEMALE,
    age_of_onset="HP:0003577",
    inheritance_mode="HP:0000006",
    disorders=(OntologyClass("MIM:163950"),),
    features=(Feature("HP:0001250"), Feature("HP:0000252", observed=False)),
    genomic_features=(
        GenomicFeature(BRAF, variant=V600E, zygosity=1, type=OntologyClass("SO:0001583")),
        GenomicFeature(BRAF, variant=Variant("GRCh38", "7", 10, 11, "C", "G")),
    ),
    test=True,
)


def test_every_level_shows_the_contact_under_the_pseudonym_and_never_the_label() -> None:
    for level in DisclosureLevel:
        shown = disclosed(PATIENT, level, "f00d")

        assert (shown.id, shown.contact, shown.species, shown.test) == (
            "f00d",
            CONTACT,
            "NCBITaxon:9606",
            True,
        )
        assert shown.label is None


def test_contact_level_shows_nothing_of_phenotype_or_genotype() -> None:
    shown = disclosed(PATIENT, DisclosureLevel.CONTACT, "f00d")

    assert shown.sex is shown.age_of_onset is shown.inheritance_mode is None
    assert shown.features == shown.disorders == shown.genomic_features == ()


def test_phenotype_level_adds_sex_onset_inheritance_features_and_disorders_only() -> None:
    shown = disclosed(PATIENT, DisclosureLevel.PHENOTYPE, "f00d")

    assert (shown.sex, shown.age_of_onset, shown.inheritance_mode) == (
        Sex.FEMALE,
        "HP:0003577",
        "HP:0000006",
    )
    assert (shown.features, shown.disorders) == (PATIENT.features, PATIENT.disorders)
    assert shown.genomic_features == ()


def test_genes_level_adds_each_gene_once_without_variant_zygosity_or_type() -> None:
    shown = disclosed(PATIENT, DisclosureLevel.GENES, "f00d")

    assert shown.genomic_features == (GenomicFeature(BRAF),)
    assert shown.features == PATIENT.features


def test_variants_level_shows_the_genomic_features_whole() -> None:
    shown = disclosed(PATIENT, DisclosureLevel.VARIANTS, "f00d")

    assert shown == PATIENT.replace(id="f00d", label=None)


def test_a_result_with_nothing_to_show_carries_the_withheld_placeholder() -> None:
    contact_only = disclosed(PATIENT, DisclosureLevel.CONTACT, "f00d")

    assert as_result(contact_only).features == (WITHHELD,)
    assert WITHHELD.id == "HP:0000118"
    genes_only = disclosed(PATIENT, DisclosureLevel.GENES, "f00d")
    assert as_result(genes_only) == genes_only


def test_a_peer_gets_the_lesser_of_consent_and_policy_and_a_submitter_the_consent() -> None:
    genes = Consent(Sharing.ALL, DisclosureLevel.GENES)
    variants = Consent(Sharing.ALL, DisclosureLevel.VARIANTS)
    phenotype_peer = Recipient("node-b", "GB", DisclosureLevel.PHENOTYPE)

    assert phenotype_peer.level_for(genes) is DisclosureLevel.PHENOTYPE
    assert (
        Recipient("node-c", "FR", DisclosureLevel.VARIANTS).level_for(genes)
        is DisclosureLevel.GENES
    )
    assert Recipient("clinic-b", local=True).level_for(variants) is DisclosureLevel.VARIANTS
    assert Recipient("clinic-b", local=True).audience == "local:clinic-b"
    assert phenotype_peer.audience == "node-b"


def test_an_explanation_says_no_more_than_the_level_shows() -> None:
    term = TermMatch("HP:1", "a", "HP:2", "b", "HP:3", "c", 1.5)
    explanation = Explanation(
        shared_genes=("HGNC:1097",),
        shared_variants=("GRCh38:7:140753335:A>T",),
        shared_disorders=("MIM:163950",),
        term_matches=(term,),
        conflicting_terms=("HP:0000252",),
    )

    assert disclosed_explanation(explanation, DisclosureLevel.CONTACT) == Explanation()
    assert disclosed_explanation(explanation, DisclosureLevel.PHENOTYPE) == Explanation(
        shared_disorders=("MIM:163950",), term_matches=(term,), conflicting_terms=("HP:0000252",)
    )
    assert disclosed_explanation(explanation, DisclosureLevel.GENES) == Explanation(
        shared_genes=("HGNC:1097",),
        shared_disorders=("MIM:163950",),
        term_matches=(term,),
        conflicting_terms=("HP:0000252",),
    )
    assert disclosed_explanation(explanation, DisclosureLevel.VARIANTS) == explanation


def test_an_explanation_keeps_shared_negatives_wherever_the_phenotype_shows() -> None:
    explanation = Explanation(
        shared_genes=("HGNC:1097",),
        shared_variants=("GRCh38:7:140753335:A>T",),
        shared_excluded_terms=("HP:0000252",),
    )

    assert disclosed_explanation(explanation, DisclosureLevel.CONTACT) == Explanation()
    assert disclosed_explanation(explanation, DisclosureLevel.PHENOTYPE) == Explanation(
        shared_excluded_terms=("HP:0000252",)
    )
    assert disclosed_explanation(explanation, DisclosureLevel.GENES) == Explanation(
        shared_genes=("HGNC:1097",), shared_excluded_terms=("HP:0000252",)
    )
