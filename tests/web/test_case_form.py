"""The case form: fields -> patient JSON, API error paths -> fields, stored patient -> fields."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from mme_node.errors import InvalidPatient
from mme_node.formats.schemas import load_patient
from mme_node.model import Consent, DataUse, DisclosureLevel, PatientRecord, Sharing
from mme_node.web.case_form import FORM_ERRORS, CaseForm, field_label, field_of, term_id_of

NAMES = {"Seizure": "HP:0001250", "Microcephaly": "HP:0000252"}


def find_term(text: str) -> str | None:
    return NAMES.get(text)


def posted(**fields: str) -> CaseForm:
    base = {"id": "P1", "contact_name": "Dr A", "contact_email": "a@example.org"}
    return CaseForm.from_form(FormData(list((base | fields).items())))


def test_a_posted_form_becomes_the_patient_json_the_api_takes() -> None:
    case = posted(
        **{
            "label": "proband",
            "sex": "FEMALE",
            "test": "yes",
            "disorders": "MIM:607208, Orphanet:33069",
            "features-0-term": "Seizure (HP:0001250)",
            "features-0-observed": "yes",
            "features-1-term": "HP:0000252",
            "features-1-observed": "no",
            "genes-0-gene": "SCN1A",
            "genes-0-assembly": "GRCh37",
            "genes-0-chromosome": "2",
            "genes-0-position": "166848646",
            "genes-0-ref": "G",
            "genes-0-alt": "A",
            "genes-0-zygosity": "1",
        }
    )
    assert case.patient_json(find_term) == {
        "id": "P1",
        "label": "proband",
        "sex": "FEMALE",
        "test": True,
        "contact": {"name": "Dr A", "email": "a@example.org", "href": "mailto:a@example.org"},
        "disorders": [{"id": "MIM:607208"}, {"id": "Orphanet:33069"}],
        "features": [
            {"id": "HP:0001250", "observed": "yes"},
            {"id": "HP:0000252", "observed": "no"},
        ],
        "genomicFeatures": [
            {
                "gene": {"id": "SCN1A"},
                "variant": {
                    "assembly": "GRCh37",
                    "referenceName": "2",
                    "start": 166848645,
                    "end": 166848646,
                    "referenceBases": "G",
                    "alternateBases": "A",
                },
                "zygosity": 1,
            }
        ],
    }


def test_empty_rows_are_left_out_and_the_rest_keep_their_order() -> None:
    case = posted(
        **{
            "features-0-term": "",
            "features-1-term": "Microcephaly",
            "features-3-term": "HP:0001250",
            "genes-0-gene": "",
            "genes-0-assembly": "GRCh38",
            "genes-1-gene": "BRD4",
        }
    )
    patient = case.patient_json(find_term)
    assert [f["id"] for f in patient["features"]] == ["HP:0000252", "HP:0001250"]
    assert patient["genomicFeatures"] == [{"gene": {"id": "BRD4"}}]


def test_a_term_is_read_from_an_id_a_known_name_or_left_as_typed() -> None:
    assert term_id_of("Seizure (hp:0001250)", find_term) == "HP:0001250"
    assert term_id_of("Microcephaly", find_term) == "HP:0000252"
    assert term_id_of("seizure-ish", find_term) == "seizure-ish"


def test_a_position_that_is_not_a_number_goes_to_validation_as_typed() -> None:
    case = posted(**{"genes-0-gene": "SCN1A", "genes-0-chromosome": "2", "genes-0-position": "12a"})
    with pytest.raises(InvalidPatient) as refused:
        load_patient(case.patient_json(find_term))
    assert field_of(refused.value.problems[0][0]) == "genes-0-position"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("patient.id", "id"),
        ("patient.contact.href", "contact_href"),
        ("patient.contact", "contact_name"),
        ("patient.features[2].id", "features-2-term"),
        ("patient.features", "features"),
        ("patient.genomicFeatures[1].gene.id", "genes-1-gene"),
        ("patient.genomicFeatures[0].variant.referenceName", "genes-0-chromosome"),
        ("patient.genomicFeatures[0].variant.start", "genes-0-position"),
        ("patient.genomicFeatures[0].variant.alternateBases", "genes-0-alt"),
        ("patient.disorders[1].id", "disorders"),
        ("patient", "features"),
        ("patient.species", FORM_ERRORS),
    ],
)
def test_an_api_error_path_lands_on_the_field_holding_that_value(path: str, field: str) -> None:
    assert field_of(path) == field


def test_the_api_messages_are_shown_beside_their_fields_and_summarised_in_form_order() -> None:
    case = posted(**{"features-0-term": "HP:12", "genes-0-gene": "NOTAGENE1"})
    with pytest.raises(InvalidPatient) as refused:
        load_patient(case.patient_json(find_term) | {"id": ""})
    shown = case.with_problems(list(refused.value.problems))
    assert shown.error("features-0-term") == '"HP:12" is not an HPO id (HP:nnnnnnn)'
    assert [label for _, label, _ in shown.error_summary()] == ["Patient id", "Phenotype term 1"]


def test_row_fields_are_labelled_with_their_number_from_one() -> None:
    assert field_label("genes-0-position") == "Position of variant 1"
    assert field_label("features-4-term") == "Phenotype term 5"


def test_a_stored_patient_fills_the_form_and_round_trips(bundled_record: PatientRecord) -> None:
    case = CaseForm.from_record(
        bundled_record, lambda term: {"HP:0001250": "Seizure"}.get(term, "")
    )
    assert case.features[0].term == "Seizure (HP:0001250)"
    assert case.genes[0].position == "166848646"  # 1-based, as entered
    again = case.patient_json(find_term, bundled_record.patient)
    patient, _ = load_patient(again)
    assert patient.features == bundled_record.patient.features
    assert patient.genomic_features[0].variant == bundled_record.patient.genomic_features[0].variant


def test_fields_the_form_does_not_show_are_kept_from_the_stored_patient(
    bundled_record: PatientRecord,
) -> None:
    case = CaseForm.from_record(bundled_record, lambda term: "")
    again = case.patient_json(find_term, bundled_record.patient)
    assert again["species"] == "NCBITaxon:9606"
    assert again["contact"]["roles"] == ["clinician"]
    assert again["features"][0]["ageOfOnset"] == "HP:0003593"
    assert again["genomicFeatures"][0]["type"] == {"id": "SO:0001583", "label": "missense_variant"}
    assert again["disorders"] == [{"id": "MIM:607208", "label": "Dravet syndrome"}]


@pytest.fixture
def bundled_record() -> PatientRecord:
    patient, _ = load_patient(
        {
            "id": "P1",
            "species": "NCBITaxon:9606",
            "contact": {"name": "Dr A", "href": "mailto:a@example.org", "roles": ["clinician"]},
            "disorders": [{"id": "MIM:607208", "label": "Dravet syndrome"}],
            "features": [{"id": "HP:0001250", "ageOfOnset": "HP:0003593"}],
            "genomicFeatures": [
                {
                    "gene": {"id": "SCN1A"},
                    "type": {"id": "SO:0001583", "label": "missense_variant"},
                    "variant": {
                        "assembly": "GRCh37",
                        "referenceName": "2",
                        "start": 166848645,
                        "end": 166848646,
                        "referenceBases": "G",
                        "alternateBases": "A",
                    },
                }
            ],
        }
    )
    return PatientRecord(owner="clinic-a", patient=patient, hpo_release="x", submitted_json="{}")


def test_no_consent_choice_leaves_the_patient_under_the_nodes_default() -> None:
    assert posted().consent_json() is None


def test_a_consent_choice_becomes_the_consent_json_with_the_stored_data_use() -> None:
    case = posted(
        consent_sharing="countries", consent_countries="gb; fr", consent_disclosure="genes"
    )
    stored = Consent(
        Sharing.ALL, DisclosureLevel.VARIANTS, data_use=(DataUse("DUO:0000022", ("GB",)),)
    )
    assert case.consent_json(stored) == {
        "sharing": "countries",
        "disclosure": "genes",
        "countries": ["GB", "FR"],
        "dataUse": [{"id": "DUO:0000022", "countries": ["GB"]}],
    }


def test_consent_errors_land_on_the_consent_fields() -> None:
    assert field_of("consent.countries[1]") == "consent_countries"
    assert field_of("consent.disclosure") == "consent_disclosure"
    assert field_of("consent") == "consent_sharing"
