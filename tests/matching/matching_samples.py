"""MME patient JSON for the matching tests, and the node parts matching needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mme_node.formats.schemas import load_patient
from mme_node.matching.follower import ChangeFollower
from mme_node.matching.matcher import Matcher
from mme_node.model import Patient, PatientRecord
from mme_node.services.patients import PatientService
from mme_node.stores.sqlite import SQLitePatientStore
from mme_node.vocabulary.genes import GeneIndex
from mme_node.vocabulary.normalise import TermResolver, normalise_patient

CONTACT_HREF = "mailto:clinic@example.org"


@dataclass
class MatchingNode:
    """A patient service writing to a real SQLite store; its follower keeps the matcher in step."""

    store: SQLitePatientStore
    patients: PatientService
    matcher: Matcher
    follower: ChangeFollower

    def query(self, patient_json: dict[str, Any]) -> Patient:
        """A query as ``/match`` sees it: validated and normalised."""
        return self.patients.prepare(patient_json).patient


def patient_json(
    patient_id: str,
    observed: Iterable[str] = (),
    *,
    excluded: Iterable[str] = (),
    genes: Iterable[str] = (),
    variants: Sequence[tuple[str, dict[str, Any]]] = (),
    disorders: Iterable[str] = (),
    test: bool = False,
    href: str = CONTACT_HREF,
) -> dict[str, Any]:
    """An MME patient; ``variants`` are ``(gene id, variant object)`` pairs."""
    patient: dict[str, Any] = {
        "id": patient_id,
        "contact": {"name": "Dr. Example", "href": href},
        "features": [{"id": t} for t in observed] + [{"id": t, "observed": "no"} for t in excluded],
        "genomicFeatures": [{"gene": {"id": g}} for g in genes]
        + [{"gene": {"id": g}, "variant": v} for g, v in variants],
        "disorders": [{"id": d} for d in disorders],
        "test": test,
    }
    return {name: value for name, value in patient.items() if value != []}


def snv(start: int, alternate: str = "T") -> dict[str, Any]:
    """A complete GRCh37 single-nucleotide variant on chromosome 2."""
    return {
        "assembly": "GRCh37",
        "referenceName": "2",
        "start": start,
        "end": start + 1,
        "referenceBases": "C",
        "alternateBases": alternate,
    }


def prepared(patient: dict[str, Any], terms: TermResolver, genes: GeneIndex) -> Patient:
    """A patient validated and normalised the way the patient service does it."""
    loaded, _ = load_patient(patient)
    normalised, _ = normalise_patient(loaded, terms, genes)
    return normalised


def record_of(patient: Patient, owner: str = "clinic-a") -> PatientRecord:
    return PatientRecord(
        owner=owner, patient=patient, hpo_release="2025-01-16", submitted_json="{}"
    )
