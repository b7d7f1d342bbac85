"""The in-memory match index: every stored patient's profile, kept in step with writes.

Patients are split into two partitions, real and test, because a real query
must never see a test patient and a test query only test patients. Each
partition holds the observed terms of every patient as one
:class:`hpo.ProfileMatrix` (patients with no phenotype get an empty row, so
every patient is scored), the excluded terms as a second matrix, the
clinical picture (observed and excluded terms together, see
:mod:`.phenotype`) as a third, row-aligned with the observed one, and
inverted indexes from gene, variant and disorder to patients.

Each row also carries the patient's consent *reach* (which peers may see it)
as a small integer, so that the patients a peer may be shown are one array
lookup per query (:meth:`MatchIndex.allowed`, :meth:`Partition.eligible`),
not a loop over patients.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hpo import Ontology, ProfileMatrix
from mme_node.model import Consent, Patient, PatientRecord
from mme_node.security.consent import (
    SHIPPED_DEFAULT_CONSENT,
    PeerScope,
    Reach,
    consent_of,
    reach_of,
)

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

    owner: str
    patient_id: str
    contact_href: str
    genes: frozenset[str]
    variants: frozenset[str]  # allele keys: one per variant, on GRCh38 when lifted
    disorders: frozenset[str]
    excluded: tuple[str, ...]
    reach: int = 0  # the patient's consent reach, as numbered by its MatchIndex


@dataclass
class Partition:
    """The patients of one kind (test or real).

    Besides what matching reads, it keeps the tallies behind the MME metrics
    (patients per owner, patients per observed term, diagnosed patients) up
    to date on every change, so that ``/metrics`` costs the same at a million
    patients as at ten.
    """

    observed: ProfileMatrix
    excluded: ProfileMatrix
    picture: ProfileMatrix = field(init=False)
    """Observed and excluded terms of every patient; row ``r`` is the patient of
    ``observed`` row ``r`` (both get the same adds and removes, so they compact together)."""
    facts: dict[str, CandidateFacts] = field(default_factory=dict)
    by_gene: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_variant: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_disorder: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_patient_id: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_owner: Counter[str] = field(default_factory=Counter)
    diagnosed: int = 0
    term_counts: npt.NDArray[np.int64] = field(init=False)
    _reach_rows: npt.NDArray[np.int32] = field(init=False)
    _rows_generation: int = field(init=False)

    def __post_init__(self) -> None:
        self.picture = ProfileMatrix(self.observed.ontology)
        self.term_counts = np.zeros(len(self.observed.ontology), dtype=np.int64)
        self._reach_rows = np.zeros(1024, dtype=np.int32)
        self._rows_generation = self.observed.generation

    def set_reaches(self, numbers: npt.NDArray[np.integer]) -> None:
        """Give every row of ``observed`` its reach number at once (a matrix built in bulk)."""
        if len(numbers) != self.observed.rows:
            raise ValueError("one reach number per row of the observed matrix")
        self._reach_rows = np.asarray(numbers, dtype=np.int32).copy()
        self._rows_generation = self.observed.generation

    def eligible(self, allowed: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Per row of ``observed``: may the patient be shown (``allowed`` is per reach)?"""
        return allowed[self._reach_rows[: self.observed.rows]]

    def add(
        self, key: str, owner: str, patient: Patient, ontology: Ontology, reach: int = 0
    ) -> None:
        self.remove(key)
        facts = CandidateFacts(
            owner=owner,
            patient_id=patient.id,
            contact_href=patient.contact.href,
            genes=frozenset(patient.gene_ids),
            variants=frozenset(patient.allele_keys),
            disorders=frozenset(d.id for d in patient.disorders),
            excluded=_current(patient.excluded_terms, ontology),
            reach=reach,
        )
        self.facts[key] = facts
        observed = _current(patient.observed_terms, ontology)
        self.observed.add(key, observed)
        self.picture.add(key, observed + facts.excluded)
        row = self.observed.row(key)
        if row >= len(self._reach_rows):
            grown = np.zeros(max(2 * len(self._reach_rows), row + 1), dtype=np.int32)
            grown[: len(self._reach_rows)] = self._reach_rows
            self._reach_rows = grown
        self._reach_rows[row] = reach
        if facts.excluded:
            self.excluded.add(key, facts.excluded)
        for values, inverted in self._inverted(facts):
            for value in values:
                inverted[value].add(key)
        self.by_owner[owner] += 1
        self.diagnosed += bool(facts.disorders)
        self.term_counts[self._observed_indices(key)] += 1  # a row holds distinct terms

    def remove(self, key: str) -> None:
        facts = self.facts.pop(key, None)
        if facts is None:
            return
        self.term_counts[self._observed_indices(key)] -= 1
        self.diagnosed -= bool(facts.disorders)
        self.by_owner[facts.owner] -= 1
        if not self.by_owner[facts.owner]:
            del self.by_owner[facts.owner]
        self.observed.remove(key)
        self.picture.remove(key)
        if self.observed.generation != self._rows_generation:
            self._renumber_reaches()
        self.excluded.remove(key)
        for values, inverted in self._inverted(facts):
            for value in values:
                holders = inverted[value]
                holders.discard(key)
                if not holders:
                    del inverted[value]

    def _renumber_reaches(self) -> None:
        """Follow the rows of ``observed`` after it compacted (rare: O(patients) then)."""
        rows = np.zeros(max(len(self._reach_rows), self.observed.rows), dtype=np.int32)
        for key, facts in self.facts.items():
            rows[self.observed.row(key)] = facts.reach
        self._reach_rows = rows
        self._rows_generation = self.observed.generation

    def _observed_indices(self, key: str) -> npt.NDArray[np.int32]:
        return self.observed.csr.row(self.observed.row(key))

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
    """Both partitions, updated through the
    :class:`~mme_node.services.patients.PatientListener` calls.
    """

    def __init__(
        self, ontology: Ontology, default_consent: Consent = SHIPPED_DEFAULT_CONSENT
    ) -> None:
        self.ontology = ontology
        self.default_consent = default_consent
        self.real = self._partition()
        self.test = self._partition()
        self.reaches: list[Reach] = []
        self._reach_numbers: dict[Reach, int] = {}
        self._allowed: dict[PeerScope, npt.NDArray[np.bool_] | None] = {}

    def _partition(self) -> Partition:
        return Partition(ProfileMatrix(self.ontology), ProfileMatrix(self.ontology))

    def partition(self, test: bool) -> Partition:
        return self.test if test else self.real

    def __len__(self) -> int:
        return len(self.real.facts) + len(self.test.facts)

    def add(self, record: PatientRecord) -> None:
        key = matrix_key(record.key)
        reach = self.reach_number(reach_of(consent_of(record, self.default_consent)))
        self.partition(not record.patient.test).remove(key)
        self.partition(record.patient.test).add(
            key, record.owner, record.patient, self.ontology, reach
        )

    def allowed(self, scope: PeerScope) -> npt.NDArray[np.bool_] | None:
        """Per reach number, may a peer of ``scope`` be shown such patients?

        None when it may be shown every patient indexed so far (no need to
        mask anything). Cached per scope until a new reach appears.
        """
        if scope not in self._allowed:
            allowed = np.array([scope.reaches(reach) for reach in self.reaches], dtype=bool)
            self._allowed[scope] = None if allowed.all() else allowed
        return self._allowed[scope]

    def reach_number(self, reach: Reach) -> int:
        """The small number rows carry for ``reach`` (numbered on first sight)."""
        number = self._reach_numbers.get(reach)
        if number is None:
            number = self._reach_numbers[reach] = len(self.reaches)
            self.reaches.append(reach)
            self._allowed.clear()
        return number

    def remove(self, key: PatientKey) -> None:
        text = matrix_key(key)
        self.real.remove(text)
        self.test.remove(text)

    def clear(self) -> None:
        self.real = self._partition()
        self.test = self._partition()

    def counts(self) -> dict[str, int]:
        """MME metrics of the real patients (test patients are not counted).

        Costs O(distinct genes + distinct variants + ontology terms), whatever
        the number of patients: the partition keeps its tallies current.
        """
        partition = self.real
        return {
            "numberOfCases": len(partition.facts),
            "numberOfSubmitters": len(partition.by_owner),
            "numberOfGenes": sum(len(holders) for holders in partition.by_gene.values()),
            "numberOfUniqueGenes": len(partition.by_gene),
            "numberOfVariants": sum(len(holders) for holders in partition.by_variant.values()),
            "numberOfUniqueVariants": len(partition.by_variant),
            "numberOfFeatures": int(partition.term_counts.sum()),
            "numberOfUniqueFeatures": int(np.count_nonzero(partition.term_counts)),
            "numberOfCasesWithDiagnosis": partition.diagnosed,
        }
