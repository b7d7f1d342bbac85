"""Phenopacket v2 -> MME patient, on a small hand-written phenopacket-store style case."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from mme_node.errors import InvalidPatient
from mme_node.formats.phenopacket import patient_from_phenopacket
from mme_node.model import Contact, Feature, Gene, GenomicFeature, OntologyClass, Sex, Variant

CONTACT = Contact("Dr Who", "mailto:who@example.org", institution="Clinic")


def phenopacket() -> dict[str, Any]:
    return {
        "id": "PMID_1_P3",
        "subject": {
            "id": "P3",
            "sex": "MALE",
            "taxonomy": {"id": "NCBITaxon:9606", "label": "human"},
            "timeAtLastEncounter": {"age": {"iso8601duration": "P5Y"}},
        },
        "phenotypicFeatures": [
            {
                "type": {"id": "HP:0003701", "label": "Proximal muscle weakness"},
                "onset": {"age": {"iso8601duration": "P10Y"}},
            },
            {
                "type": {"id": "HP:0001761", "label": "Pes cavus"},
                "onset": {"ontologyClass": {"id": "HP:0011463", "label": "Childhood onset"}},
            },
            {"type": {"id": "HP:0002098", "label": "Respiratory distress"}, "excluded": True},
        ],
        "interpretations": [
            {
                "id": "i1",
                "progressStatus": "SOLVED",
                "diagnosis": {
                    "disease": {"id": "OMIM:161800", "label": "Congenital myopathy 2A"},
                    "genomicInterpretations": [
                        {
                            "subjectOrBiosampleId": "P3",
                            "interpretationStatus": "CAUSATIVE",
                            "variantInterpretation": {
                                "variationDescriptor": {
                                    "id": "v1",
                                    "geneContext": {"valueId": "HGNC:129", "symbol": "ACTA1"},
                                    "vcfRecord": {
                                        "genomeAssembly": "hg38",
                                        "chrom": "chr1",
                                        "pos": 229431994,
                                        "ref": "C",
                                        "alt": "A",
                                    },
                                    "allelicState": {"id": "GENO:0000135", "label": "het"},
                                }
                            },
                        },
                        {"interpretationStatus": "CANDIDATE", "gene": {"valueId": "HGNC:7133"}},
                        {"interpretationStatus": "REJECTED", "gene": {"symbol": "TTN"}},
                    ],
                },
            }
        ],
        "diseases": [
            {"term": {"id": "OMIM:161800", "label": "Congenital myopathy 2A"}},
            {"term": {"id": "OMIM:255310", "label": "Other myopathy"}, "excluded": True},
        ],
        "metaData": {"phenopacketSchemaVersion": "2.0.2", "createdBy": "someone"},
    }


def variant_call(packet: dict[str, Any]) -> dict[str, Any]:
    calls = packet["interpretations"][0]["diagnosis"]["genomicInterpretations"]
    descriptor: dict[str, Any] = calls[0]["variantInterpretation"]["variationDescriptor"]
    return descriptor


def test_phenopacket_becomes_an_mme_patient() -> None:
    patient, warnings = patient_from_phenopacket(phenopacket(), CONTACT)
    assert warnings == []
    assert (patient.id, patient.label, patient.sex, patient.species) == (
        "PMID_1_P3",
        "P3",
        Sex.MALE,
        "NCBITaxon:9606",
    )
    assert patient.contact == CONTACT


def test_phenotypic_features_keep_exclusion_and_onset_class() -> None:
    patient, _ = patient_from_phenopacket(phenopacket(), CONTACT)
    assert patient.features == (
        Feature("HP:0003701", label="Proximal muscle weakness"),
        Feature("HP:0001761", label="Pes cavus", age_of_onset="HP:0011463"),
        Feature("HP:0002098", observed=False, label="Respiratory distress"),
    )


def test_vcf_position_becomes_a_zero_based_start() -> None:
    patient, _ = patient_from_phenopacket(phenopacket(), CONTACT)
    assert patient.genomic_features[0] == GenomicFeature(
        Gene("ACTA1"),
        Variant("GRCh38", "1", 229431993, 229431994, "C", "A"),
        zygosity=1,
    )


def test_gene_descriptor_calls_become_genes_and_rejected_calls_are_skipped() -> None:
    patient, _ = patient_from_phenopacket(phenopacket(), CONTACT)
    assert [g.gene.id for g in patient.genomic_features] == ["ACTA1", "HGNC:7133"]


def test_diseases_and_diagnosis_give_each_disorder_once_without_excluded() -> None:
    patient, _ = patient_from_phenopacket(phenopacket(), CONTACT)
    assert patient.disorders == (
        OntologyClass("MIM:161800", "Congenital myopathy 2A", submitted_id="OMIM:161800"),
    )


def test_caller_may_choose_the_patient_id() -> None:
    patient, _ = patient_from_phenopacket(phenopacket(), CONTACT, patient_id="case-7")
    assert patient.id == "case-7"


def test_subject_id_is_used_when_the_phenopacket_has_none() -> None:
    packet = phenopacket()
    del packet["id"]
    assert patient_from_phenopacket(packet, CONTACT)[0].id == "P3"


@pytest.mark.parametrize(("state", "zygosity"), [("GENO:0000136", 2), ("GENO:0000134", 1)])
def test_allelic_state_gives_the_zygosity(state: str, zygosity: int) -> None:
    packet = phenopacket()
    variant_call(packet)["allelicState"] = {"id": state}
    assert patient_from_phenopacket(packet, CONTACT)[0].genomic_features[0].zygosity == zygosity


def test_int64_position_written_as_a_string_is_read() -> None:
    packet = phenopacket()
    variant_call(packet)["vcfRecord"]["pos"] = "229431994"
    variant = patient_from_phenopacket(packet, CONTACT)[0].genomic_features[0].variant
    assert variant is not None and variant.start == 229431993


def test_symbolic_allele_keeps_the_gene_and_warns() -> None:
    packet = phenopacket()
    variant_call(packet)["vcfRecord"]["alt"] = "<DEL>"
    patient, warnings = patient_from_phenopacket(packet, CONTACT)
    assert patient.genomic_features[0] == GenomicFeature(Gene("ACTA1"), zygosity=1)
    assert "not plain bases" in warnings[0]


def test_variant_without_gene_context_is_left_out_with_a_warning() -> None:
    packet = phenopacket()
    del variant_call(packet)["geneContext"]
    patient, warnings = patient_from_phenopacket(packet, CONTACT)
    assert [g.gene.id for g in patient.genomic_features] == ["HGNC:7133"]
    assert "no geneContext" in warnings[0]


def test_phenopacket_v1_is_rejected() -> None:
    packet = phenopacket()
    packet["metaData"]["phenopacketSchemaVersion"] = "1.0"
    with pytest.raises(InvalidPatient, match="phenopacketSchemaVersion: 1.0 is not supported"):
        patient_from_phenopacket(packet, CONTACT)


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        ([], "phenopacket: must be an object"),
        ({"subject": "P3"}, "phenopacket.subject: must be an object"),
        ({"phenotypicFeatures": {}}, "phenopacket.phenotypicFeatures: must be a list"),
        ({"interpretations": [{"diagnosis": 3}]}, "phenopacket.interpretations[0].diagnosis:"),
    ],
)
def test_malformed_phenopacket_names_the_path(packet: object, message: str) -> None:
    with pytest.raises(InvalidPatient, match=re.escape(message)):
        patient_from_phenopacket(packet, CONTACT)


def test_invalid_content_is_reported_by_the_mme_loader() -> None:
    packet = phenopacket()
    packet["phenotypicFeatures"][1]["type"]["id"] = "HP:17"
    with pytest.raises(InvalidPatient, match=r'patient.features\[1\].id: "HP:17"'):
        patient_from_phenopacket(packet, CONTACT)


def test_phenopacket_without_features_or_genes_is_rejected() -> None:
    packet = {"id": "x", "subject": {"id": "x"}}
    with pytest.raises(InvalidPatient, match="at least one of features"):
        patient_from_phenopacket(packet, CONTACT)


def test_conversion_leaves_the_phenopacket_unchanged() -> None:
    packet = phenopacket()
    before = copy.deepcopy(packet)
    patient_from_phenopacket(packet, CONTACT)
    assert packet == before
