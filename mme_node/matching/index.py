"""The in-memory match index: every stored patient's profile, kept in step with writes.

Patients are split into two partitions, real and test, because a real query
must never see a test patient and a test query only test patients. Each
partition holds the observed terms of every patient as one
:class:`hpo.ProfileMatrix` (patients with no phenotype get an empty row, so
every patient is scored), the clinical picture (observed and excluded terms
together, see :mod:`.phenotype`) as a second, row-aligned with the first, and
every other fact matching needs as arrays
aligned with its rows (:mod:`.columns`): no Python object per patient but
its key, so that a million patients fit in a few hundred megabytes, and an
index saves and loads as a few blocks (:mod:`.snapshot`).

Each row also carries the patient's consent *reach* (which peers may see it)
as a small integer, so that the patients a peer may be shown are one array
lookup per query (:meth:`MatchIndex.allowed`, :meth:`Partition.eligible`),
not a loop over patients.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from hpo import Ontology, ProfileMatrix, SimilarityEngine
from mme_node.matching.columns import Column, Rows, ValueSets, value_hash, value_hashes
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


TermMask = npt.NDArray[np.bool_]
"""Marks terms by index (``mask[i]`` for the ontology's term ``i``)."""

SavedArrays = dict[str, npt.NDArray[Any]]
"""A partition's arrays by name, as :meth:`Partition.saved` returns them."""

PER_ROW = "per_row"
"""Infix of the saved arrays of per-profile similarity values (``observed.per_row.mean_ic``)."""


class Partition:
    """The patients of one kind (test or real), one row each.

    A replaced patient gets a new row and its old row dies; dead rows are
    dropped from every array at once when they outnumber the live ones, so
    row numbers change then (keys never do). Dead rows keep their facts
    until then: whoever reads rows by fact (genes, own rows) gets dead ones
    too, and scoring ignores them (:meth:`ProfileMatrix.top` ranks live rows
    only).
    """

    def __init__(self, ontology: Ontology) -> None:
        self.ontology = ontology
        self.observed = ProfileMatrix(ontology, compact_automatically=False)
        self.picture = ProfileMatrix(ontology, compact_automatically=False)
        """Observed and excluded terms of every patient; row ``r`` is the patient of
        ``observed`` row ``r`` (both get the same adds and removes, and compact together)."""
        self.excluded = ValueSets(np.int32)
        self.genes = ValueSets()
        self.alleles = ValueSets()
        self.disorders = ValueSets()
        self.patient_ids = ValueSets()
        self.contacts = Column(np.int64)
        self.owners = Column(np.int32)
        self.reaches = Column(np.int32)
        self.owner_names: list[str] = []
        self._owner_codes: dict[str, int] = {}
        self._version = 0
        self._counts: tuple[int, dict[str, int]] = (-1, {})

    def __len__(self) -> int:
        return len(self.observed)

    def __contains__(self, key: str) -> bool:
        return key in self.observed

    def add(self, key: str, owner: str, patient: Patient, reach: int = 0) -> None:
        """File ``patient`` under ``key`` (replacing what was there); ``reach`` numbered by
        its :class:`MatchIndex`."""
        self.remove(key)
        ontology = self.ontology
        observed = _current(patient.observed_terms, ontology)
        excluded = _current(patient.excluded_terms, ontology)
        self.observed.add(key, observed)
        self.picture.add(key, observed + excluded)
        self.excluded.append(sorted({ontology.index_of(term) for term in excluded}))
        self.genes.append(value_hashes(patient.gene_ids))
        self.alleles.append(value_hashes(patient.allele_keys))
        self.disorders.append(value_hashes(dict.fromkeys(d.id for d in patient.disorders)))
        self.patient_ids.append([value_hash(patient.id)])
        self.contacts.append(value_hash(patient.contact.href))
        self.owners.append(self._owner_code(owner))
        self.reaches.append(reach)
        self._version += 1

    def remove(self, key: str) -> bool:
        """Forget the patient filed under ``key``; False if there was none."""
        if not self.observed.remove(key):
            return False
        self.picture.remove(key)
        if self.observed.worth_compacting():
            self.compact()
        self._version += 1
        return True

    def compact(self) -> None:
        """Drop dead rows from every array (row numbers change)."""
        kept = self.observed.compact()
        self.picture.compact()  # the same rows are dead in both: the same ones are kept
        for column in self._columns():
            column.compact(kept)

    def rows_with_genes(self, hgnc_ids: Iterable[str]) -> Rows:
        return self.genes.rows_with(value_hashes(hgnc_ids))

    def rows_with_alleles(self, allele_keys: Iterable[str]) -> Rows:
        return self.alleles.rows_with(value_hashes(allele_keys))

    def rows_with_disorders(self, disorder_ids: Iterable[str]) -> Rows:
        return self.disorders.rows_with(value_hashes(disorder_ids))

    def own_rows(self, patient_id: str, contact_href: str) -> Rows:
        """Live rows of a patient with this id and this contact (a peer's echo of ours)."""
        rows = self.patient_ids.rows_with([value_hash(patient_id)])
        mine = (self.contacts.values[rows] == value_hash(contact_href)) & self.observed.live[rows]
        own: Rows = rows[mine]
        return own

    def set_reaches(self, numbers: npt.NDArray[np.integer]) -> None:
        """Give every row of ``observed`` its reach number at once (a matrix built in bulk)."""
        if len(numbers) != self.observed.rows:
            raise ValueError("one reach number per row of the observed matrix")
        self.reaches = Column.from_array(np.asarray(numbers, dtype=np.int32).copy(), len(numbers))

    def eligible(self, allowed: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Per row of ``observed``: may the patient be shown (``allowed`` is per reach)?"""
        eligible: npt.NDArray[np.bool_] = allowed[self.reaches.values]
        return eligible

    @property
    def any_excluded(self) -> bool:
        """Whether any patient (live or recently dead) excludes a term."""
        return len(self.excluded.values) > 0

    def excluding(
        self, term_masks: Iterable[TermMask], rows: Rows | None = None
    ) -> npt.NDArray[np.int64]:
        """Per row (of ``rows`` if given), how many masks mark a term the patient excludes."""
        counts = np.zeros(self.observed.rows if rows is None else len(rows), dtype=np.int64)
        indptr, values = self.excluded.selected(rows)
        for mask in term_masks:
            marked = np.flatnonzero(mask[values])
            if len(marked):
                owners = np.searchsorted(indptr, marked, side="right") - 1
                counts[np.unique(owners)] += 1
        return counts

    def counts(self) -> dict[str, int]:
        """The MME metrics of this partition's live patients, recomputed after changes only."""
        version, counts = self._counts
        if version != self._version:
            counts = self._count()
            self._counts = (self._version, counts)
        return dict(counts)

    def _count(self) -> dict[str, int]:
        live = self.observed.live
        terms = self.observed.csr
        live_terms = terms.indices[np.repeat(live, terms.lengths())]
        genes, alleles = _live_values(self.genes, live), _live_values(self.alleles, live)
        return {
            "numberOfCases": len(self.observed),
            "numberOfSubmitters": len(np.unique(self.owners.values[live])),
            "numberOfGenes": len(genes),
            "numberOfUniqueGenes": len(np.unique(genes)),
            "numberOfVariants": len(alleles),
            "numberOfUniqueVariants": len(np.unique(alleles)),
            "numberOfFeatures": len(live_terms),
            "numberOfUniqueFeatures": len(np.unique(live_terms)),
            "numberOfCasesWithDiagnosis": int(np.count_nonzero(self.disorders.lengths()[live])),
        }

    def saved(self, similarity: SimilarityEngine) -> tuple[SavedArrays, list[str]]:
        """Copies of the live rows' arrays, compacted, and their keys (for :mod:`.snapshot`).

        With the per-profile values ``similarity`` warmed for the two
        matrices (``<matrix>.per_row.<name>``), so that loading them does not
        compute those again.
        """
        live_rows = np.flatnonzero(self.observed.live).astype(np.int64)
        keys = self.observed.keys()
        arrays: SavedArrays = {}
        for name, matrix in self._matrices():
            for value, per_row in similarity.row_values(matrix).items():
                arrays[f"{name}.{PER_ROW}.{value}"] = per_row[live_rows]
        matrices = [
            (name, ValueSets.from_arrays(matrix.csr.indptr, matrix.csr.indices, matrix.rows))
            for name, matrix in self._matrices()
        ]
        for name, column in (*matrices, *self._named_columns()):
            copy = _copy(column)
            copy.compact(live_rows)
            if isinstance(copy, ValueSets):
                arrays[f"{name}.indptr"], arrays[f"{name}.values"] = copy.indptr, copy.values
            else:
                arrays[name] = copy.values
        return arrays, [str(keys[row]) for row in live_rows]

    @classmethod
    def from_saved(
        cls,
        ontology: Ontology,
        arrays: SavedArrays,
        keys: list[str],
        owner_names: list[str],
        similarity: SimilarityEngine | None = None,
    ) -> Partition:
        """A partition over saved arrays (memory maps too: nothing is copied until written).

        ``similarity`` adopts the per-profile values saved with the matrices
        (checked: ``ValueError`` if they do not fit them).
        """
        partition = cls(ontology)
        rows = len(keys)
        partition.observed, partition.picture = (
            ProfileMatrix.from_arrays(
                ontology,
                list[str | None](keys),
                arrays[f"{name}.indptr"],
                arrays[f"{name}.values"],
                np.ones(rows, dtype=bool),
                compact_automatically=False,
            )
            for name in ("observed", "picture")
        )
        if similarity is not None:
            for name, matrix in partition._matrices():
                prefix = f"{name}.{PER_ROW}."
                per_row = {
                    key.removeprefix(prefix): array
                    for key, array in arrays.items()
                    if key.startswith(prefix)
                }
                similarity.adopt(matrix, per_row)
        for name, column in partition._named_columns():
            if isinstance(column, ValueSets):
                loaded = ValueSets.from_arrays(
                    arrays[f"{name}.indptr"], arrays[f"{name}.values"], rows
                )
                setattr(partition, name, loaded)
            else:
                setattr(partition, name, Column.from_array(arrays[name], rows))
        partition.owner_names = list(owner_names)
        partition._owner_codes = {owner: code for code, owner in enumerate(owner_names)}
        return partition

    def _matrices(self) -> list[tuple[str, ProfileMatrix]]:
        return [("observed", self.observed), ("picture", self.picture)]

    def _named_columns(self) -> list[tuple[str, ValueSets | Column]]:
        return [
            ("excluded", self.excluded),
            ("genes", self.genes),
            ("alleles", self.alleles),
            ("disorders", self.disorders),
            ("patient_ids", self.patient_ids),
            ("contacts", self.contacts),
            ("owners", self.owners),
            ("reaches", self.reaches),
        ]

    def _columns(self) -> list[ValueSets | Column]:
        return [column for _, column in self._named_columns()]

    def _owner_code(self, owner: str) -> int:
        code = self._owner_codes.get(owner)
        if code is None:
            code = self._owner_codes[owner] = len(self.owner_names)
            self.owner_names.append(owner)
        return code


def _live_values(sets: ValueSets, live: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    return sets.values[np.repeat(live, sets.lengths())]


def _copy(column: ValueSets | Column) -> ValueSets | Column:
    if isinstance(column, ValueSets):
        return ValueSets.from_arrays(column.indptr.copy(), column.values.copy(), column.rows)
    return Column.from_array(column.values.copy(), len(column.values))


def _current(terms: Iterable[str], ontology: Ontology) -> tuple[str, ...]:
    """Terms known to the active release (a patient normalised with an older one may differ)."""
    return tuple(term for term in terms if term in ontology)


class MatchIndex:
    """Both partitions, updated through the
    :class:`~mme_node.services.patients.PatientListener` calls.

    Patients stored without a consent follow ``default_consent``.
    """

    def __init__(
        self, ontology: Ontology, default_consent: Consent = SHIPPED_DEFAULT_CONSENT
    ) -> None:
        self.ontology = ontology
        self.default_consent = default_consent
        self.real = Partition(ontology)
        self.test = Partition(ontology)
        self.reaches: list[Reach] = []
        """The distinct consent reaches met so far; a row holds its reach's position here."""
        self._reach_numbers: dict[Reach, int] = {}
        self._allowed: dict[PeerScope, npt.NDArray[np.bool_] | None] = {}

    def partition(self, test: bool) -> Partition:
        return self.test if test else self.real

    def __len__(self) -> int:
        return len(self.real) + len(self.test)

    def add(self, record: PatientRecord) -> None:
        key = matrix_key(record.key)
        reach = self.reach_number(reach_of(consent_of(record, self.default_consent)))
        self.partition(not record.patient.test).remove(key)
        self.partition(record.patient.test).add(key, record.owner, record.patient, reach)

    def allowed(self, scope: PeerScope) -> npt.NDArray[np.bool_] | None:
        """Per reach number, may a peer of ``scope`` be shown such patients?

        None when it may be shown every patient indexed so far (no need to
        mask anything). Cached per scope until a new reach appears.
        """
        if scope not in self._allowed:
            allowed = np.array([scope.reaches(reach) for reach in self.reaches], dtype=bool)
            self._allowed[scope] = None if allowed.all() else allowed
        return self._allowed[scope]

    def number_reaches(self, reaches: Iterable[Reach]) -> None:
        """Number ``reaches`` in this order first (an index loaded from a snapshot)."""
        for reach in reaches:
            self.reach_number(reach)

    def reach_number(self, reach: Reach) -> int:
        """The small number rows carry for ``reach`` (numbered on first sight)."""
        number = self._reach_numbers.get(reach)
        if number is None:
            number = self._reach_numbers[reach] = len(self.reaches)
            self.reaches.append(reach)
            self._allowed.clear()
        return number

    def patient_ids(self, owner: str) -> list[str]:
        """The ids of ``owner``'s indexed patients (a scan of every key: for erasures only)."""
        prefix = matrix_key((owner, ""))[: -len('""]')]  # '["owner", '
        found = []
        for partition in (self.real, self.test):
            rows = partition.observed.keys()  # None for the rows of removed patients
            found += [patient_key(text)[1] for text in rows if text and text.startswith(prefix)]
        return found

    def remove(self, key: PatientKey) -> None:
        text = matrix_key(key)
        self.real.remove(text)
        self.test.remove(text)

    def clear(self) -> None:
        self.real = Partition(self.ontology)
        self.test = Partition(self.ontology)

    def counts(self) -> dict[str, int]:
        """MME metrics of the real patients (test patients are not counted).

        Computed from the arrays (about 0.1 s per million patients) and kept
        until the next change, so repeated ``/metrics`` calls cost nothing.
        """
        return self.real.counts()
