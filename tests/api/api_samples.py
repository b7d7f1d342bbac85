"""Sample MME patients for the API tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tokens:
    """Tokens of a test node: two submitters, a peer and an admin."""

    submitter: str
    other_submitter: str
    peer: str
    admin: str


def patient_json(patient_id: str = "P1", **changes: object) -> dict[str, object]:
    """A small valid MME patient; ``changes`` replace top-level fields."""
    patient: dict[str, object] = {
        "id": patient_id,
        "contact": {"name": "Dr. Example", "href": "mailto:dr.example@example.org"},
        "features": [
            {"id": "HP:0001250", "observed": "yes"},
            {"id": "HP:0001263"},
            {"id": "HP:0000252", "observed": "no"},
        ],
        "genomicFeatures": [{"gene": {"id": "SCN1A"}}],
    }
    patient.update(changes)
    return patient
