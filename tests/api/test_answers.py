"""Answer texts: byte for byte the JSONResponse of the answer document, never stale."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from starlette.responses import JSONResponse

from mme_node.api.answers import PLACEHOLDER, AnswerTexts
from mme_node.formats.schemas import dump_patient
from mme_node.model import (
    Contact,
    DisclosureLevel,
    Feature,
    Gene,
    GenomicFeature,
    MatchResult,
    Patient,
    PatientRecord,
)
from mme_node.security.disclosure import Disclosure, Recipient

WRITTEN = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def record(patient_id: str = "P1", version: int = 1, label: str = "private") -> PatientRecord:
    patient = Patient(
        id=patient_id,
        contact=Contact("Dr Ada Ünsal", "mailto:ada@example.org"),
        label=label,
        features=(Feature("HP:0001250"), Feature("HP:0001263", observed=False)),
        genomic_features=(GenomicFeature(Gene("SCN1A", hgnc_id="HGNC:10585", symbol="SCN1A")),),
    )
    return PatientRecord("clinic-a", patient, "2025-01-16", "{}", version=version, updated=WRITTEN)


def shown(
    stored: PatientRecord, to: str, level: DisclosureLevel = DisclosureLevel.GENES
) -> Disclosure:
    pseudonym = f"pseudonym-of-{stored.patient.id}-for-{to}"
    return Disclosure(
        result=MatchResult(stored, 0.1234567, 0.1, 0.2),
        recipient=Recipient(to),
        level=level,
        shown_as=pseudonym,
    )


def expected(results: list[Disclosure], version: str = "1.0") -> bytes:
    """What the endpoint sent before answers were cached: the document through JSONResponse."""
    document: dict[str, Any] = {
        "results": [
            {
                "score": {"patient": round(r.result.score, 6)},
                "patient": dump_patient(r.patient, version),
            }
            for r in results
        ],
        "disclaimer": "Research use — only",
        "terms": "",
    }
    return bytes(JSONResponse(document).body)


def answer(texts: AnswerTexts, results: list[Disclosure], version: str = "1.0") -> bytes:
    return texts.answer(results, "Research use — only", "", version)


def test_an_answer_is_the_json_response_of_its_document() -> None:
    results = [shown(record("P1"), "peer-a"), shown(record("P2"), "peer-a")]
    assert answer(AnswerTexts(), results) == expected(results)
    assert answer(AnswerTexts(), []) == expected([])


def test_a_patient_serialised_once_is_shown_to_each_peer_under_its_own_pseudonym() -> None:
    texts = AnswerTexts()
    stored = record()
    for peer in ("peer-a", "peer-b", "peer-a"):
        assert answer(texts, [shown(stored, peer)]) == expected([shown(stored, peer)])


def test_a_replaced_patient_or_another_level_or_version_is_serialised_again() -> None:
    texts = AnswerTexts()
    first = record(label="one")
    answer(texts, [shown(first, "peer-a", DisclosureLevel.VARIANTS)])
    replaced = dataclasses.replace(
        first, version=2, patient=first.patient.replace(features=(Feature("HP:0000717"),))
    )
    for result, version in (
        (shown(replaced, "peer-a", DisclosureLevel.VARIANTS), "1.0"),
        (shown(first, "peer-a", DisclosureLevel.CONTACT), "1.0"),
        (shown(first, "peer-a", DisclosureLevel.VARIANTS), "1.1"),
    ):
        assert answer(texts, [result], version) == expected([result], version)


def test_a_field_holding_the_placeholder_does_not_take_the_ids_place() -> None:
    stored = record()
    stored = dataclasses.replace(
        stored, patient=stored.patient.replace(contact=Contact(PLACEHOLDER, "mailto:a@b.org"))
    )
    texts = AnswerTexts()
    for peer in ("peer-a", "peer-b"):
        assert answer(texts, [shown(stored, peer)]) == expected([shown(stored, peer)])


def test_at_most_size_patients_are_kept() -> None:
    texts = AnswerTexts(size=3)
    results = [shown(record(f"P{n}"), "peer-a") for n in range(5)]
    assert answer(texts, results) == expected(results)
    assert len(texts) == 3
