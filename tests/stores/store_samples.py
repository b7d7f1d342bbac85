"""Deterministic sample patients for the store tests (and the crash-test writer).

Every field of the model is set on some sample, so round trips through a
store or the codec exercise all of it.
"""

from __future__ import annotations

from mme_node.model import (
    Consent,
    Contact,
    DataUse,
    DisclosureLevel,
    Feature,
    Gene,
    GenomicFeature,
    OntologyClass,
    Patient,
    PatientRecord,
    Sex,
    Sharing,
    Variant,
)

HPO_RELEASE = "2024-04-26"


def sample_patient(number: int) -> Patient:
    """A full patient whose content depends only on ``number`` (id ``case-<number>``)."""
    return Patient(
        id=f"case-{number:06d}",
        contact=Contact(
            name="Dr Ada Example",
            href="mailto:ada@example.org",
            institution="Example Children's Hospital",
            email="ada@example.org",
            roles=("clinician",),
        ),
        label=f"proband {number}",
        species="NCBITaxon:9606",
        sex=(Sex.FEMALE, Sex.MALE, None)[number % 3],
        age_of_onset="HP:0003577",
        inheritance_mode="HP:0000006" if number % 2 else None,
        disorders=(
            OntologyClass(
                "MIM:300958", "Intellectual developmental disorder", submitted_id="OMIM:300958"
            ),
            OntologyClass("MONDO:0100038"),
        ),
        features=(
            Feature("HP:0001250", label="Seizure", age_of_onset="HP:0003593"),
            Feature("HP:0001263", observed=True),
            Feature("HP:0000252", observed=False, label="Microcephaly"),
            Feature("HP:0004322", submitted_id="HP:0000000"),
            Feature(f"HP:{number % 10_000_000:07d}"),
        ),
        genomic_features=(
            GenomicFeature(
                gene=Gene(
                    id="SCN1A",
                    hgnc_id="HGNC:10585",
                    symbol="SCN1A",
                    ensembl_id="ENSG00000144285",
                    entrez_id="6323",
                    label="sodium voltage-gated channel alpha subunit 1",
                ),
                variant=Variant(
                    assembly="GRCh37.p13",
                    reference_name="2",
                    start=166_848_000 + number,
                    end=166_848_001 + number,
                    reference_bases="G",
                    alternate_bases="A",
                    lifted=Variant("GRCh38", "2", 165_991_490 + number, None, "G", "A"),
                ),
                zygosity=1,
                type=OntologyClass("SO:0001583", "missense_variant"),
            ),
            GenomicFeature(gene=Gene(id="NOT-A-GENE")),
        ),
        test=number % 5 == 0,
    )


def sample_record(number: int, owner: str = "clinic-a") -> PatientRecord:
    """A record to hand to a store: version and dates are left for the store to set."""
    patient = sample_patient(number)
    return PatientRecord(
        owner=owner,
        patient=patient,
        hpo_release=HPO_RELEASE,
        submitted_json=f'{{"id": "{patient.id}", "contact": {{"name": "Dr Ada Example"}}}}',
        warnings=("variant without start dropped",) if number % 4 == 0 else (),
        consent=sample_consent(number),
    )


def sample_consent(number: int) -> Consent | None:
    """None (the node default) for every third record, else a consent using every field."""
    if number % 3 == 0:
        return None
    return Consent(
        sharing=Sharing.COUNTRIES,
        disclosure=tuple(DisclosureLevel)[number % 4],
        countries=("GB", "FR"),
        data_use=(DataUse("DUO:0000042"), DataUse("DUO:0000022", countries=("GB",))),
    )
