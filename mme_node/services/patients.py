"""The patient service: what happens when a client submits, reads or deletes a case.

It validates and normalises a submitted MME patient against the HPO release
being served and the HGNC table, writes it through the :class:`PatientStore`,
and tells its listeners (the change follower, which updates the match index)
after every acknowledged change. The web layer and the command line both go
through here, so both apply one set of rules.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from hpo import HPOError
from mme_node.concurrency import run_cpu_bound
from mme_node.errors import InvalidPatient, MMEError
from mme_node.formats.consent import load_consent
from mme_node.formats.schemas import load_patient
from mme_node.matching.state import Serving
from mme_node.model import Consent, Patient, PatientRecord
from mme_node.stores.base import ImportReport, Page, PatientStore, ProgressCallback, Rejection
from mme_node.vocabulary.branches import AGE_OF_ONSET, FEATURE, INHERITANCE_MODE, TermUse
from mme_node.vocabulary.genes import GeneLookupError, GeneResolver
from mme_node.vocabulary.liftover import VariantLifter
from mme_node.vocabulary.normalise import derive_record, derive_terms, normalise_patient

T = TypeVar("T")


def check_addressable(patient: Patient) -> None:
    """Refuse an id that cannot name the patient in a URL (``/api/patients/{id}``).

    Starlette decodes ``%2F`` before routing, so an id holding ``/`` could
    never be read, matched or erased through the API.
    """
    if "/" in patient.id:
        raise InvalidPatient(
            f"patient.id: {patient.id!r} contains '/', which cannot be addressed in "
            "/api/patients/{id}; use another separator"
        )


class PatientMentions(Protocol):
    """A record outside the store that names patients (notices, release reports)."""

    async def forget_patient(self, owner: str, patient_id: str) -> None:
        """Erase what it holds about the patient (it was deleted)."""


class PatientListener(Protocol):
    """Something kept in step with the store (the change follower of the match index)."""

    async def patients_changed(self) -> None:
        """Patients were saved, deleted or imported and the writes are acknowledged."""


SEARCH_BATCH = 500
"""Patients read per store call while searching."""


def _searchable(record: PatientRecord) -> str:
    """The text :meth:`PatientService.search` looks in, lower-cased."""
    patient = record.patient
    words = [patient.id, patient.label or "", patient.contact.name]
    words += [d.id for d in patient.disorders]
    for genomic in patient.genomic_features:
        words += [genomic.gene.id, genomic.gene.symbol or ""]
    return "\n".join(words).casefold()


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated, normalised patient ready to store, with what was changed on the way.

    ``consent`` is None when the submitter gave none (the node default applies).
    """

    patient: Patient
    submitted_json: str
    warnings: tuple[str, ...]
    consent: Consent | None = None


@dataclass
class PatientService:
    """``serving`` gives the HPO release submissions are normalised with (the one served)."""

    store: PatientStore
    serving: Serving
    genes: GeneResolver
    listeners: list[PatientListener] = field(default_factory=list)
    lifter: VariantLifter | None = None
    mentions: list[PatientMentions] = field(default_factory=list)
    """Also erased when a patient is deleted (its match history: the erasure service)."""

    def normalise(self, patient: Patient) -> tuple[Patient, list[str]]:
        """Primary HPO ids, HGNC genes, lifted variants: for comparisons (``InvalidPatient``)."""
        return normalise_patient(patient, self.serving.release.ontology, self.genes, self.lifter)

    def normalise_query(self, patient: Patient) -> tuple[Patient, list[str]]:
        """Normalise a peer's query, leaving out what this node cannot read.

        A peer on a newer HPO release or gene table sends ids we do not know
        yet; refusing its whole query would hide every match, so unknown
        terms and genes are dropped with a warning. Only a query left with
        nothing to compare is refused (``InvalidPatient``).
        """
        warnings: list[str] = []
        features = []
        for i, feature in enumerate(patient.features):
            problem = self._unusable(feature.id, FEATURE)
            if problem is not None:
                warnings.append(f"patient.features[{i}].id {feature.id} ignored: {problem}")
                continue
            features.append(feature)
        genomic_features = []
        for i, genomic in enumerate(patient.genomic_features):
            try:
                self.genes.resolve(genomic.gene.id)
            except GeneLookupError as error:
                warnings.append(f"patient.genomicFeatures[{i}].gene.id ignored: {error.message}")
                continue
            genomic_features.append(genomic)
        if not features and not genomic_features:
            raise InvalidPatient(
                "patient: none of its features or genes are known to this node: "
                + "; ".join(warnings)
            )
        usable = patient.replace(
            features=tuple(features),
            genomic_features=tuple(genomic_features),
            age_of_onset=self._usable_qualifier(patient.age_of_onset, AGE_OF_ONSET),
            inheritance_mode=self._usable_qualifier(patient.inheritance_mode, INHERITANCE_MODE),
        )
        normalised, more_warnings = self.normalise(usable)
        return normalised, warnings + more_warnings

    def _unusable(self, term_id: str, use: TermUse) -> str | None:
        """Why a query's term cannot be read here (unknown, wrong branch), or None."""
        terms = self.serving.release.ontology
        try:
            return use.misplaced(terms, terms.resolve(term_id, follow_consider=True))
        except HPOError as error:
            return str(error)

    def _usable_qualifier(self, term_id: str | None, use: TermUse) -> str | None:
        """An onset or inheritance of a query as sent, dropped when from the wrong branch.

        An id this release does not know is kept, as for a submitted patient.
        """
        if term_id is None:
            return None
        terms = self.serving.release.ontology
        try:
            current = terms.resolve(term_id)
        except HPOError:
            return term_id
        return None if use.misplaced(terms, current) is not None else term_id

    def prepare(self, patient_json: object, consent_json: object = None) -> Submission:
        """Validate and normalise one MME patient object and its consent; ``InvalidPatient``.

        ``consent_json`` None (or absent) leaves the patient under the node's
        default consent.
        """
        patient, schema_warnings = load_patient(patient_json)
        check_addressable(patient)
        consent = None if consent_json is None else load_consent(consent_json)
        normalised, normalise_warnings = self.normalise(patient)
        return Submission(
            patient=normalised,
            submitted_json=json.dumps(patient_json, ensure_ascii=False, sort_keys=True),
            warnings=tuple(schema_warnings) + tuple(normalise_warnings),
            consent=consent,
        )

    def record_of(self, owner: str, submission: Submission) -> PatientRecord:
        """The record to store: terms derived with the release served now, and named so.

        Deriving again (microseconds) keeps the record true to the release it
        names even if a switch happened since the submission was prepared.
        """
        release = self.serving.release
        return PatientRecord(
            owner=owner,
            patient=derive_terms(submission.patient, release.ontology),
            hpo_release=release.version,
            submitted_json=submission.submitted_json,
            warnings=submission.warnings,
            consent=submission.consent,
        )

    async def submit(
        self,
        owner: str,
        patient_json: object,
        expected_version: int | None = None,
        consent_json: object = None,
        *,
        create_only: bool = False,
    ) -> tuple[PatientRecord, bool]:
        """Create or replace a patient of ``owner``; return it and whether it was created.

        A replace is a whole new version: its consent is ``consent_json``
        (None: the node default), not the one stored before. ``create_only``
        refuses to replace (``AlreadyExists``), decided by the store in one
        step so that of two concurrent creations of one id exactly one wins.
        Validation and normalisation run in a worker thread: a patient of
        hundreds of terms is milliseconds of CPU that must not stall the
        event loop.
        """
        submission = await run_cpu_bound(lambda: self.prepare(patient_json, consent_json))
        record = self.record_of(owner, submission)
        stored, created = await self.store.save(record, expected_version, create_only=create_only)
        await self._changed()
        return stored, created

    async def get(self, owner: str, patient_id: str) -> PatientRecord:
        """The stored patient, its terms derived with the release served now."""
        return derive_record(await self.store.get(owner, patient_id), self.serving.release)

    async def list(self, owner: str | None, offset: int, limit: int) -> Page:
        page = await self.store.list(owner, offset, limit)
        release = self.serving.release
        return dataclasses.replace(
            page, records=tuple(derive_record(record, release) for record in page.records)
        )

    async def search(self, owner: str, text: str, offset: int, limit: int) -> Page:
        """The owner's patients whose id, label, genes, disorders or contact mention ``text``.

        Case-insensitive substring search, ordered by patient id like
        :meth:`list`. It reads the owner's patients page by page (the stores
        have no text index), so it costs what listing them all costs: fine for
        a clinic's cases, not meant for an owner of millions.
        """
        needle = text.strip().casefold()
        if not needle:
            return await self.list(owner, offset, limit)
        found: list[PatientRecord] = []
        start = 0
        while True:
            page = await self.store.list(owner, start, SEARCH_BATCH)
            found += [record for record in page.records if needle in _searchable(record)]
            start += len(page.records)
            if not page.records or start >= page.total:
                break
        return Page(tuple(found[offset : offset + limit]), len(found), offset, limit)

    async def delete(self, owner: str, patient_id: str) -> None:
        """Remove the patient from the store, its ``mentions`` and the match index.

        ``NotFound`` if absent. The match history, the change feed and the
        bytes on disk are :class:`~mme_node.services.erasure.ErasureService`'s
        job, which calls this.
        """
        await self.store.delete(owner, patient_id)
        await self.forget_mentions(owner, patient_id)
        await self._changed()

    async def forget_mentions(self, owner: str, patient_id: str) -> None:
        """Erase what the ``mentions`` hold about the patient (notices, release reports)."""
        for mention in self.mentions:
            await mention.forget_patient(owner, patient_id)

    async def _changed(self) -> None:
        for listener in self.listeners:
            await listener.patients_changed()

    async def import_many(
        self,
        owner: str,
        patients: Iterable[tuple[str, T]],
        on_progress: ProgressCallback | None = None,
        prepare: Callable[[T], Submission] | None = None,
    ) -> ImportReport:
        """Import ``(label, patient)`` pairs; invalid ones are rejected with their reason.

        ``label`` names the record in a rejection (file and position) when the
        patient has no usable id. ``prepare`` turns each patient into a
        submission (default :meth:`prepare`, for MME JSON), raising
        ``MMEError`` to reject it; the command line passes one that also reads
        phenopackets.
        """
        rejected: list[Rejection] = []
        submission_of = prepare or self.prepare

        def valid_records() -> Iterator[PatientRecord]:
            for label, patient_json in patients:
                try:
                    yield self.record_of(owner, submission_of(patient_json))
                except MMEError as error:
                    rejected.append(Rejection(label, str(error)))
                    if on_progress is not None:
                        on_progress(1)

        report = await self.store.import_many(valid_records(), on_progress)
        report.rejected[:0] = rejected
        if report.imported:
            await self._changed()
        return report
