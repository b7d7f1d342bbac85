"""Compiled dumpers give exactly what marshmallow's ``Schema.dump`` gives, or refuse to compile."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pytest
from marshmallow import Schema, fields, post_dump

from mme_node.formats.dumping import compile_dumper
from mme_node.formats.schemas import PatientSchema, load_patient
from mme_node.model import (
    Contact,
    Feature,
    Gene,
    GenomicFeature,
    OntologyClass,
    Patient,
    Sex,
    Variant,
)

EVERY_FIELD = Patient(
    id="P1",
    contact=Contact(
        name="Dr Who",
        href="mailto:who@example.org",
        institution="Clinic",
        email="who@example.org",
        roles=("clinician", "researcher"),
    ),
    label="case 1",
    species="NCBITaxon:9606",
    sex=Sex.FEMALE,
    age_of_onset="HP:0003577",
    inheritance_mode="HP:0000006",
    disorders=(OntologyClass("MIM:123456", "a disorder"), OntologyClass("MONDO:0000001")),
    features=(
        Feature("HP:0001250", label="Seizure", age_of_onset="HP:0003593"),
        Feature("HP:0001263", observed=False, submitted_id="HP:0001249"),
    ),
    genomic_features=(
        GenomicFeature(
            Gene("SCN1A", hgnc_id="HGNC:10585", symbol="SCN1A", ensembl_id="ENSG00000144285"),
            Variant("GRCh37", "2", 166_845_670, 166_845_671, "G", "A"),
            zygosity=1,
            type=OntologyClass("SO:0001583", "missense"),
        ),
        GenomicFeature(Gene("KCNQ2", entrez_id="3785"), zygosity=2),
    ),
    test=True,
)


def benchmark_patients() -> list[Patient]:
    path = resources.files("mme_node") / "data" / "benchmark_patients.json"
    return [load_patient(data)[0] for data in json.loads(path.read_text(encoding="utf-8"))]


@pytest.mark.parametrize(
    "patient",
    [
        EVERY_FIELD,
        Patient("P2", Contact("Dr Who", "https://example.org"), features=(Feature("HP:0001250"),)),
        *benchmark_patients(),
    ],
    ids=lambda patient: patient.id,
)
def test_the_compiled_patient_dumper_equals_marshmallow(patient: Patient) -> None:
    schema = PatientSchema()
    compiled = compile_dumper(schema)(patient)
    assert compiled == schema.dump(patient)
    assert list(compiled) == list(schema.dump(patient))  # same key order, same JSON text


@dataclass
class Thing:
    name: str | None
    size: int | None


class PlainSchema(Schema):
    name = fields.String()
    size = fields.Integer()


def test_a_schema_without_the_unset_rule_keeps_none_values() -> None:
    thing = Thing(name=None, size=3)
    assert compile_dumper(PlainSchema())(thing) == PlainSchema().dump(thing)


class ProcessedSchema(PlainSchema):
    @post_dump
    def _shout(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key.upper(): value for key, value in data.items()}


class MethodSchema(Schema):
    name = fields.Method("name_of")

    def name_of(self, thing: Thing) -> str:
        return "x"


@pytest.mark.parametrize("schema", [ProcessedSchema(), MethodSchema(), PlainSchema(many=True)])
def test_what_cannot_be_compiled_exactly_is_refused(schema: Schema) -> None:
    with pytest.raises(TypeError):
        compile_dumper(schema)
