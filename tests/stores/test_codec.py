"""The storage codec gives back exactly the record it was given."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from store_samples import sample_patient, sample_record

from mme_node.model import Contact, Feature, Patient, Sex
from mme_node.stores.codec import (
    CodecError,
    decode_patient,
    decode_record,
    encode_patient,
    encode_record,
)


def test_record_round_trips_every_field() -> None:
    record = dataclasses.replace(
        sample_record(4),
        version=7,
        created=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        updated=datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    )

    decoded = decode_record(encode_record(record))

    assert decoded == record
    assert decoded.warnings == ("variant without start dropped",)
    assert decoded.updated is not None and decoded.updated.utcoffset() == timedelta(hours=2)


def test_patient_round_trip_restores_enums_and_tuples() -> None:
    decoded = decode_patient(encode_patient(sample_patient(1)))

    assert decoded == sample_patient(1)
    assert decoded.sex is Sex.MALE
    assert isinstance(decoded.features, tuple)
    assert isinstance(decoded.contact.roles, tuple)


def test_minimal_patient_round_trips_with_defaults() -> None:
    patient = Patient(id="p", contact=Contact(name="n", href="h"), features=(Feature("HP:1"),))

    assert decode_patient(encode_patient(patient)) == patient


def test_excluded_feature_stays_excluded() -> None:
    patient = Patient(
        id="p", contact=Contact(name="n", href="h"), features=(Feature("HP:1", observed=False),)
    )

    assert decode_patient(encode_patient(patient)).features[0].observed is False


def test_absent_values_are_left_out_of_the_text() -> None:
    patient = Patient(id="p", contact=Contact(name="n", href="h"), features=(Feature("HP:1"),))

    document = json.loads(encode_patient(patient))

    assert "label" not in document
    assert "genomic_features" not in document
    assert "roles" not in document["contact"]


def test_non_ascii_text_round_trips() -> None:
    patient = sample_patient(1).replace(label="Zoë — 患者 \udc80")

    assert decode_patient(encode_patient(patient)).label == "Zoë — 患者 \udc80"


@pytest.mark.parametrize("label", [object(), float("nan"), {1, 2}])
def test_unencodable_value_is_a_codec_error(label: object) -> None:
    with pytest.raises(CodecError):
        encode_patient(sample_patient(1).replace(label=label))


@pytest.mark.parametrize("text", ["", "[]", "{", '{"id": "p"}', '{"id": "p", "contact": {}}'])
def test_text_that_is_not_a_stored_patient_is_a_codec_error(text: str) -> None:
    with pytest.raises(CodecError):
        decode_patient(text)


def test_record_without_owner_is_a_codec_error() -> None:
    document = json.loads(encode_record(sample_record(1)))
    del document["owner"]

    with pytest.raises(CodecError):
        decode_record(json.dumps(document))
