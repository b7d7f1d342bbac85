"""MME patient JSON <-> Patient: what is accepted, repaired, rejected and written."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest

from mme_node.errors import InvalidPatient
from mme_node.formats.schemas import (
    MAX_DISORDERS,
    MAX_FEATURES,
    MAX_GENOMIC_FEATURES,
    SUPPORTED_VERSIONS,
    PatientSchema,
    dump_patient,
    load_match_request,
    load_patient,
    patient_openapi_schema,
)
from mme_node.model import Contact, Feature, Gene, GenomicFeature, Patient, Sex, Variant


@pytest.fixture(scope="module")
def benchmark_patients() -> list[dict[str, Any]]:
    path = resources.files("mme_node") / "data" / "benchmark_patients.json"
    patients: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return patients


def minimal(**fields: Any) -> dict[str, Any]:
    """A small valid patient, with ``fields`` replacing or adding top-level fields."""
    patient: dict[str, Any] = {
        "id": "P1",
        "contact": {"name": "Dr Who", "href": "mailto:who@example.org"},
        "features": [{"id": "HP:0001250"}],
    }
    patient.update(fields)
    return patient


def with_variant(**variant: Any) -> dict[str, Any]:
    base = {"assembly": "GRCh37", "referenceName": "17", "referenceBases": "G"}
    return minimal(genomicFeatures=[{"gene": {"id": "EFTUD2"}, "variant": base | variant}])


def error_of(data: object) -> str:
    with pytest.raises(InvalidPatient) as raised:
        load_patient(data)
    return raised.value.message


# ---------------------------------------------------------------- benchmark_patients


def test_every_benchmark_patient_loads(benchmark_patients: list[dict[str, Any]]) -> None:
    loaded = [load_patient(p) for p in benchmark_patients]
    assert [p.id for p, _ in loaded] == [p["id"] for p in benchmark_patients]
    assert {p.id for p, warnings in loaded if warnings} == {"P0001017", "P0001018"}


def test_variant_without_start_is_dropped_and_gene_kept(
    benchmark_patients: list[dict[str, Any]],
) -> None:
    raw = next(p for p in benchmark_patients if p["id"] == "P0001018")
    patient, warnings = load_patient(raw)
    assert [g.gene.id for g in patient.genomic_features] == ["LAMA1", "LAMA1"]
    assert patient.genomic_features[0].variant is None
    assert patient.genomic_features[1].variant is not None
    assert warnings == [
        "patient.genomicFeatures[0].variant: has no start position; "
        "the variant was dropped, its gene kept"
    ]


def test_benchmark_patients_survive_a_round_trip(benchmark_patients: list[dict[str, Any]]) -> None:
    for raw in benchmark_patients:
        patient, _ = load_patient(raw)
        for version in SUPPORTED_VERSIONS:
            assert load_patient(dump_patient(patient, version)) == (patient, [])


def test_dump_writes_the_spec_field_names(benchmark_patients: list[dict[str, Any]]) -> None:
    raw = benchmark_patients[0]
    assert dump_patient(load_patient(raw)[0]) == raw


# ---------------------------------------------------------------- accepted input


def test_feature_without_observed_counts_as_observed() -> None:
    patient, _ = load_patient(minimal())
    assert patient.features == (Feature("HP:0001250", observed=True),)


def test_observed_no_marks_the_feature_excluded() -> None:
    patient, _ = load_patient(minimal(features=[{"id": "HP:0001250", "observed": "no"}]))
    assert patient.excluded_terms == ("HP:0001250",)


def test_observed_unknown_drops_the_feature_with_a_warning() -> None:
    features = [{"id": "HP:0001250", "observed": "unknown"}, {"id": "HP:0000252"}]
    patient, warnings = load_patient(minimal(features=features))
    assert [f.id for f in patient.features] == ["HP:0000252"]
    assert warnings and warnings[0].startswith("patient.features[0]: HP:0001250")


def test_only_unknown_features_leave_nothing_to_match() -> None:
    message = error_of(minimal(features=[{"id": "HP:0001250", "observed": "unknown"}]))
    assert message.startswith("patient: at least one of features")


def test_underscore_fields_are_ignored_everywhere() -> None:
    data = minimal(_source="x")
    data["contact"]["_note"] = 1
    data["features"][0]["_score"] = 0.5
    data["genomicFeatures"] = [{"gene": {"id": "MYH11", "_geneName": "MYH11"}, "_x": None}]
    patient, warnings = load_patient(data)
    assert patient.genomic_features[0].gene == Gene("MYH11")
    assert warnings == []


def test_null_optional_fields_mean_not_given() -> None:
    patient, _ = load_patient(
        minimal(label=None, sex=None, species=None, disorders=None, genomicFeatures=None)
    )
    assert (patient.label, patient.sex, patient.disorders) == (None, None, ())


def test_sex_is_read_case_insensitively() -> None:
    assert load_patient(minimal(sex="female"))[0].sex is Sex.FEMALE


def test_species_accepts_the_bare_taxon_number() -> None:
    assert load_patient(minimal(species="9606"))[0].species == "NCBITaxon:9606"


def test_contact_v1_1_fields_are_read_in_any_version() -> None:
    contact = {
        "name": "Dr Who",
        "href": "https://example.org/contact",
        "email": "who@example.org",
        "roles": ["Clinician", "researcher"],
    }
    patient, _ = load_patient(minimal(contact=contact))
    assert patient.contact == Contact(
        name="Dr Who",
        href="https://example.org/contact",
        email="who@example.org",
        roles=("clinician", "researcher"),
    )


def test_genomic_features_alone_are_enough() -> None:
    data = minimal(genomicFeatures=[{"gene": {"id": "EFTUD2"}, "zygosity": 2}])
    del data["features"]
    patient, _ = load_patient(data)
    assert patient.genomic_features == (GenomicFeature(Gene("EFTUD2"), zygosity=2),)


def test_variant_is_canonicalised() -> None:
    data = with_variant(assembly="hg19", referenceName="chr17", start=10, end=11)
    data["genomicFeatures"][0]["variant"]["alternateBases"] = "a"
    variant = load_patient(data)[0].genomic_features[0].variant
    assert variant == Variant("GRCh37", "17", 10, 11, "G", "A")


def test_assembly_keeps_its_patch() -> None:
    variant = load_patient(with_variant(assembly="grch38.P13", start=1))[0]
    assert variant.genomic_features[0].variant == Variant("GRCh38.p13", "17", 1, 2, "G")


@pytest.mark.parametrize("spelling", ["chrM", "MT", "mt", "M", "chrMT"])
def test_mitochondrial_chromosome_is_spelled_m_as_deployed_nodes_require(spelling: str) -> None:
    patient = load_patient(with_variant(referenceName=spelling, start=1))[0]
    assert patient.genomic_features[0].variant is not None
    assert patient.genomic_features[0].variant.reference_name == "M"
    dumped = dump_patient(patient)
    assert dumped["genomicFeatures"][0]["variant"]["referenceName"] == "M"


def test_a_variant_stored_as_mt_keeps_its_key() -> None:
    """Patients stored before M became the spelling still match the same allele."""
    old = Variant("GRCh37", "MT", 3242, 3243, "A", "G")
    assert old.key == Variant("GRCh37", "M", 3242, 3243, "A", "G").key


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("OMIM:100100", "MIM:100100"),
        ("omim:100100", "MIM:100100"),
        ("MIM:100100", "MIM:100100"),
        ("ORPHA:558", "Orphanet:558"),
        ("ORPHANET:558", "Orphanet:558"),
        ("Orphanet:558", "Orphanet:558"),
        ("MONDO:0007947", "MONDO:0007947"),
    ],
)
def test_disorder_prefixes_are_written_canonically_keeping_the_submitted_id(
    given: str, canonical: str
) -> None:
    patient = load_patient(minimal(disorders=[{"id": given}]))[0]
    [disorder] = patient.disorders
    assert disorder.id == canonical
    assert disorder.submitted_id == (None if given == canonical else given)


def test_disorders_of_other_sources_are_sent_as_a_non_standard_field() -> None:
    """A MONDO id in disorders makes strict nodes refuse the whole patient with 422."""
    disorders = [{"id": "MONDO:0007947"}, {"id": "OMIM:154700", "label": "Marfan syndrome"}]
    patient = load_patient(minimal(disorders=disorders))[0]
    dumped = dump_patient(patient)
    assert dumped["disorders"] == [
        {"id": "MIM:154700", "label": "Marfan syndrome", "_submittedId": "OMIM:154700"}
    ]
    assert dumped["_otherDisorders"] == [{"id": "MONDO:0007947"}]
    assert load_patient(dumped)[0] == patient


def test_variant_end_defaults_to_start_plus_reference_length() -> None:
    patient, warnings = load_patient(with_variant(start=100, referenceBases="ACG"))
    variant = patient.genomic_features[0].variant
    assert variant is not None and (variant.start, variant.end) == (100, 103)
    assert warnings == []


def test_start_equal_to_end_is_read_as_a_one_based_position() -> None:
    patient, warnings = load_patient(with_variant(start=42929131, end=42929131))
    variant = patient.genomic_features[0].variant
    assert variant is not None and (variant.start, variant.end) == (42929130, 42929131)
    assert "1-based" in warnings[0]


def test_both_coordinate_conventions_give_the_same_variant_key() -> None:
    zero_based = load_patient(with_variant(start=42929130, end=42929131, alternateBases="A"))[0]
    one_based = load_patient(with_variant(start=42929131, end=42929131, alternateBases="A"))[0]
    assert zero_based.variant_keys == one_based.variant_keys != ()


def test_match_request_body_is_read_with_disclaimer_and_terms() -> None:
    body = {"patient": minimal(), "disclaimer": "d", "terms": "t", "_trace": "x"}
    patient, warnings = load_match_request(body)
    assert (patient.id, warnings) == ("P1", [])


def test_match_request_names_the_patient_path() -> None:
    with pytest.raises(InvalidPatient) as raised:
        load_match_request({"patient": minimal(features=[{"id": "HP:1"}])})
    assert raised.value.message == 'patient.features[0].id: "HP:1" is not an HPO id (HP:nnnnnnn)'


def test_match_request_without_patient_is_rejected() -> None:
    with pytest.raises(InvalidPatient) as raised:
        load_match_request({"genes": []})
    assert "patient: is required" in raised.value.message
    assert "genes: is not an MME field" in raised.value.message


def test_match_request_must_be_an_object() -> None:
    with pytest.raises(InvalidPatient) as raised:
        load_match_request([])
    assert raised.value.message == "request body: must be an object"


# ---------------------------------------------------------------- rejected input


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"id": None}, "patient.id: must not be null"),
        ({"id": ""}, "patient.id: must be 1 to 255 characters"),
        ({"id": "x" * 256}, "patient.id: must be 1 to 255 characters"),
        ({"id": 7}, "patient.id: must be a string"),
        ({"label": "x" * 256}, "patient.label: must be 1 to 255 characters"),
        ({"contact": None}, "patient.contact: must not be null"),
        ({"contact": "Dr Who"}, "patient.contact: must be an object"),
        ({"contact": {"name": "Dr Who"}}, "patient.contact.href: is required"),
        (
            {"contact": {"name": "D", "href": "javascript:alert(1)"}},
            'patient.contact.href: "javascript:alert(1)" is not an http(s) or mailto URL',
        ),
        (
            {"contact": {"name": "D", "href": "www.example.org"}},
            'patient.contact.href: "www.example.org" is not an http(s) or mailto URL',
        ),
        (
            {"contact": {"name": "D", "href": "http://x.org", "email": "nope"}},
            'patient.contact.email: "nope" is not an email address',
        ),
        (
            {"contact": {"name": "D", "href": "http://x.org", "roles": ["nurse"]}},
            'patient.contact.roles[0]: "nurse" is not one of clinician, researcher, patient',
        ),
        (
            {"contact": {"name": "x" * 256, "href": "http://x.org"}},
            "patient.contact.name: must be 1 to 255 characters",
        ),
        ({"sex": "F"}, 'patient.sex: "F" is not one of FEMALE, MALE, OTHER, MIXED_SAMPLE'),
        ({"species": "human"}, 'patient.species: "human" is not an NCBI taxon id'),
        ({"ageOfOnset": "HP:3577"}, 'patient.ageOfOnset: "HP:3577" is not an HPO id'),
        ({"inheritanceMode": "AD"}, 'patient.inheritanceMode: "AD" is not an HPO id'),
        ({"disorders": [{"id": "610536"}]}, 'patient.disorders[0].id: "610536" is not an'),
        ({"disorders": {"id": "MIM:1"}}, "patient.disorders: must be a list"),
        ({"features": [{"id": "HP:0001250"}, {"id": "HP:12"}]}, 'patient.features[1].id: "HP:12"'),
        ({"features": [{"observed": "yes"}]}, "patient.features[0].id: is required"),
        (
            {"features": [{"id": "HP:0001250", "observed": True}]},
            'patient.features[0].observed: "True" is not "yes" or "no"',
        ),
        (
            {"features": [{"id": "HP:0001250", "ageOfOnset": "infant"}]},
            'patient.features[0].ageOfOnset: "infant" is not an HPO id',
        ),
        ({"features": [], "genomicFeatures": []}, "patient: at least one of features"),
        (
            {"genes": [{"gene": "EFTUD2"}]},
            'patient.genes: is not an MME field (non-standard fields must start with "_")',
        ),
        ({"test": "perhaps"}, "patient.test: must be true or false"),
        ({"genomicFeatures": [{}]}, "patient.genomicFeatures[0].gene: is required"),
        (
            {"genomicFeatures": [{"gene": {"id": ""}}]},
            "patient.genomicFeatures[0].gene.id: must be",
        ),
        (
            {"genomicFeatures": [{"gene": {"id": "A"}, "zygosity": 3}]},
            "patient.genomicFeatures[0].zygosity: 3 is not 1 or 2",
        ),
        (
            {"genomicFeatures": [{"gene": {"id": "A"}, "zygosity": "1"}]},
            "patient.genomicFeatures[0].zygosity: must be an integer",
        ),
        (
            {"genomicFeatures": [{"gene": {"id": "A"}, "type": "TRUNCATING"}]},
            "patient.genomicFeatures[0].type: must be an object",
        ),
        (
            {"genomicFeatures": [{"gene": {"id": "A"}, "type": {"id": "SO:1"}}]},
            'patient.genomicFeatures[0].type.id: "SO:1" is not a Sequence Ontology id',
        ),
    ],
)
def test_invalid_patient_names_the_field_and_the_problem(
    change: dict[str, Any], expected: str
) -> None:
    assert expected in error_of(minimal(**change))


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ({"assembly": "GRCh36"}, 'variant.assembly: "GRCh36" is not a supported assembly'),
        ({"referenceName": "23"}, 'variant.referenceName: "23" is not a chromosome'),
        ({"start": -1}, "variant.start: must not be negative"),
        ({"start": 1.5}, "variant.start: must be an integer"),
        ({"start": 5, "end": 4}, "variant.end: must not be less than start (5)"),
        ({"start": 0, "end": 0}, "variant.end: start == end == 0 is neither 0- nor 1-based"),
        ({"start": 1, "referenceBases": "XYZ"}, 'variant.referenceBases: "XYZ" is not a sequence'),
        ({"start": 1, "alternateBases": ""}, 'variant.alternateBases: "" is not a sequence'),
        ({"start": 1, "position": 1}, "variant.position: is not an MME field"),
    ],
)
def test_invalid_variant_names_the_field(variant: dict[str, Any], expected: str) -> None:
    assert f"patient.genomicFeatures[0].{expected}" in error_of(with_variant(**variant))


def test_variant_without_assembly_is_rejected() -> None:
    data = with_variant(start=1)
    del data["genomicFeatures"][0]["variant"]["assembly"]
    assert "patient.genomicFeatures[0].variant.assembly: is required" in error_of(data)


@pytest.mark.parametrize("data", [[], "patient", None, 3])
def test_non_object_patient_is_rejected(data: object) -> None:
    assert error_of(data) == "patient: must be an object"


def test_every_problem_is_reported_at_once() -> None:
    message = error_of(minimal(id="", sex="F", features=[{"id": "HP:1"}]))
    assert message.count("; ") == 2


# ---------------------------------------------------------------- output


def full_patient() -> Patient:
    return Patient(
        id="P9",
        contact=Contact("Dr Who", "https://example.org", "Clinic", "who@example.org", ("patient",)),
        label="case 9",
        species="NCBITaxon:9606",
        sex=Sex.MALE,
        age_of_onset="HP:0003593",
        inheritance_mode="HP:0000006",
        features=(
            Feature("HP:0001250", label="Seizure", age_of_onset="HP:0003593"),
            Feature("HP:0000252", observed=False, submitted_id="HP:0000253"),
        ),
        genomic_features=(
            GenomicFeature(
                Gene("MLL2", hgnc_id="HGNC:7133", symbol="KMT2D", entrez_id="8085"),
                Variant("GRCh38", "12", 0, 1, "A", "T"),
                zygosity=1,
            ),
        ),
        test=True,
    )


def test_dump_round_trips_every_model_field_in_v1_1() -> None:
    patient = full_patient()
    assert load_patient(dump_patient(patient, "1.1")) == (patient, [])


def test_dump_v1_0_leaves_out_the_v1_1_contact_fields() -> None:
    contact = dump_patient(full_patient(), "1.0")["contact"]
    assert contact == {"name": "Dr Who", "institution": "Clinic", "href": "https://example.org"}


def test_dump_writes_normalisation_results_as_non_standard_fields() -> None:
    document = dump_patient(full_patient())
    assert document["genomicFeatures"][0]["gene"] == {
        "id": "MLL2",
        "_hgncId": "HGNC:7133",
        "_symbol": "KMT2D",
        "_entrezGeneId": "8085",
    }
    assert document["features"][1] == {
        "id": "HP:0000252",
        "observed": "no",
        "_submittedId": "HP:0000253",
    }


def test_dump_keeps_a_zero_start() -> None:
    variant = dump_patient(full_patient())["genomicFeatures"][0]["variant"]
    assert (variant["start"], variant["end"]) == (0, 1)


def test_dump_rejects_an_unsupported_version() -> None:
    with pytest.raises(ValueError, match="2.0"):
        dump_patient(full_patient(), "2.0")


# ---------------------------------------------------------------- OpenAPI


def test_openapi_schema_validates_every_dumped_benchmark_patient(
    benchmark_patients: list[dict[str, Any]],
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(patient_openapi_schema())
    for raw in benchmark_patients:
        validator.validate(dump_patient(load_patient(raw)[0]))
    validator.validate(dump_patient(full_patient(), "1.1"))


def test_openapi_schema_rejects_what_the_loader_rejects() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(patient_openapi_schema())
    bad = minimal(features=[{"id": "HP:12"}], foo=1)
    assert {e.validator for e in validator.iter_errors(bad)} >= {"pattern", "additionalProperties"}


def test_openapi_schema_documents_every_field() -> None:
    def walk(schema: dict[str, Any], path: str) -> None:
        for name, prop in schema.get("properties", {}).items():
            assert prop["description"], f"{path}.{name} has no description"
            walk(prop, f"{path}.{name}")
            walk(prop.get("items", {}), f"{path}.{name}[]")

    document = patient_openapi_schema()
    walk(document, "patient")
    top_level = {f.data_key or name for name, f in PatientSchema().fields.items()}
    assert set(document["properties"]) == top_level
    assert document["required"] == ["id", "contact"]


def test_loader_leaves_the_input_unchanged() -> None:
    data = with_variant(start=5, end=5)
    before = copy.deepcopy(data)
    load_patient(data)
    assert data == before


@pytest.mark.parametrize(
    ("field", "item", "cap"),
    [
        ("features", {"id": "HP:0001250"}, MAX_FEATURES),
        ("genomicFeatures", {"gene": {"id": "SCN1A"}}, MAX_GENOMIC_FEATURES),
        ("disorders", {"id": "MIM:607208"}, MAX_DISORDERS),
    ],
)
def test_lists_over_their_cap_are_refused_naming_the_limit(
    field: str, item: dict[str, Any], cap: int
) -> None:
    load_patient(minimal(**{field: [item] * cap}))
    with pytest.raises(InvalidPatient) as raised:
        load_patient(minimal(**{field: [item] * (cap + 1)}))
    assert raised.value.message == (
        f"patient.{field}: has {cap + 1} items; at most {cap} are accepted"
    )


def test_variant_position_past_any_chromosome_is_refused() -> None:
    variant = {"assembly": "GRCh37", "referenceName": "1", "start": 10**26, "end": 10**26 + 1}
    with pytest.raises(InvalidPatient, match=r"variant.start: must be at most 250,000,000"):
        load_patient(minimal(genomicFeatures=[{"gene": {"id": "SCN1A"}, "variant": variant}]))


def test_contact_email_that_is_not_a_string_is_named() -> None:
    contact = {"name": "Dr Who", "href": "mailto:who@example.org", "email": {}}
    with pytest.raises(InvalidPatient, match="patient.contact.email: must be a string"):
        load_patient(minimal(contact=contact))
