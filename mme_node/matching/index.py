"""The in-memory match index: every stored patient's profile, kept in step with writes.

Patients are split into two partitions, real and test, because a real query
must never see a test patient and a test query only test patients. Each
partition holds the observed terms of every patient as one
:class:`hpo.ProfileMatrix` (patients with no phenotype get an empty row, so
every patient is scored), the excluded terms as a second matrix, and
inverted indexes from gene, variant and disorder to patients.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from hpo import Ontology, ProfileMatrix
from mme_node.model import Patient, PatientRecord

PatientKey = tuple[str, str]
"""``(owner, patient id)``: unique across the node."""


def matrix_key(key: PatientKey) -> str:
    """The string a patient is filed under in a profile matrix (unambiguous for any id)."""
    return json.dumps(key, ensure_ascii=False)


def patient_key(text: str) -> PatientKey:
    owner, patient_id = json.loads(text)
    return str(owner), str(patient_id)


@dataclass(frozen=True, slots=True)
class CandidateFacts:
    """What matching needs of a stored patient besides its observed terms."""

    patient_id: str
    contact_href: str
    genes: frozenset[str]
    variants: frozenset[str]
    disorders: frozenset[str]
    excluded: tuple[str, ...]


@dataclass
class Partition:
    """The patients of one kind (test or real)."""

    observed: ProfileMatrix
    excluded: ProfileMatrix
    facts: dict[str, CandidateFacts] = field(default_factory=dict)
    by_gene: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_variant: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_disorder: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_patient_id: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, key: str, patient: Patient, ontology: Ontology) -> None:
        self.remove(key)
        facts = CandidateFacts(
            patient_id=patient.id,
            contact_href=patient.contact.href,
            genes=frozenset(patient.gene_ids),
            variants=frozenset(patient.variant_keys),
            disorders=frozenset(d.id for d in patient.disorders),
            excluded=_current(patient.excluded_terms, ontology),
        )
        self.facts[key] = facts
        self.observed.add(key, _current(patient.observed_terms, ontology))
        if facts.excluded:
            self.excluded.add(key, facts.excluded)
        for values, inverted in self._inverted(facts):
            for value in values:
                inverted[value].add(key)

    def remove(self, key: str) -> None:
        facts = self.facts.pop(key, None)
        if facts is None:
            return
        self.observed.remove(key)
        self.excluded.remove(key)
        for values, inverted in self._inverted(facts):
            for value in values:
                holders = inverted[value]
                holders.discard(key)
                if not holders:
                    del inverted[value]

    def _inverted(
        self, facts: CandidateFacts
    ) -> Iterable[tuple[frozenset[str], defaultdict[str, set[str]]]]:
        return (
            (facts.genes, self.by_gene),
            (facts.variants, self.by_variant),
            (facts.disorders, self.by_disorder),
            (frozenset({facts.patient_id}), self.by_patient_id),
        )


def _current(terms: Iterable[str], ontology: Ontology) -> tuple[str, ...]:
    """Terms known to the active release (a patient normalised with an older one may differ)."""
    return tuple(term for term in terms if term in ontology)


class MatchIndex:
    """Both partitions, updated through the :class:`~mme_node.patients.PatientListener` calls."""

    def __init__(self, ontology: Ontology) -> None:
        self.ontology = ontology
        self.real = self._partition()
        self.test = self._partition()

    def _partition(self) -> Partition:
        return Partition(ProfileMatrix(self.ontology), ProfileMatrix(self.ontology))

    def partition(self, test: bool) -> Partition:
        return self.test if test else self.real

    def __len__(self) -> int:
        return len(self.real.facts) + len(self.test.facts)

    def add(self, record: PatientRecord) -> None:
        key = matrix_key(record.key)
        self.partition(not record.patient.test).remove(key)
        self.partition(record.patient.test).add(key, record.patient, self.ontology)

    def remove(self, key: PatientKey) -> None:
        text = matrix_key(key)
        self.real.remove(text)
        self.test.remove(text)

    def clear(self) -> None:
        self.real = self._partition()
        self.test = self._partition()

    def counts(self) -> dict[str, int]:
        """MME metrics of the real patients (test patients are not counted)."""
        partition = self.real
        facts = partition.facts.values()
        csr = partition.observed.csr
        live_entries = csr.indices[np.repeat(partition.observed.live, csr.lengths())]
        owners = {patient_key(key)[0] for key in partition.facts}
        return {
            "numberOfCases": len(partition.facts),
            "numberOfSubmitters": len(owners),
            "numberOfGenes": sum(len(f.genes) for f in facts),
            "numberOfUniqueGenes": len(partition.by_gene),
            "numberOfVariants": sum(len(f.variants) for f in facts),
            "numberOfUniqueVariants": len(partition.by_variant),
            "numberOfFeatures": int(len(live_entries)),
            "numberOfUniqueFeatures": int(len(np.unique(live_entries))),
            "numberOfCasesWithDiagnosis": sum(1 for f in facts if f.disorders),
        }
