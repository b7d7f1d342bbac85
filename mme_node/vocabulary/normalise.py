"""Bring a validated patient to the node's canonical vocabulary.

:func:`normalise_patient` derives every phenotype term from its submitted id
with the HPO release in use, resolves every gene to its HGNC identity and
lifts every GRCh37 variant to its GRCh38 equivalent, so that matching can
compare ids directly. The submitted term ids are kept in the features (see
:class:`~mme_node.model.Feature`), so :func:`derive_terms` can derive the
terms again with another release, in either direction, without the
submission: nothing a submitter sent is lost by an upgrade or a rollback.

Onset and inheritance ids (``ageOfOnset``, ``inheritanceMode``) take no part
in matching: they are kept exactly as submitted, with a warning when the
release does not know them.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Protocol

from hpo import Release
from hpo.errors import HPOError
from mme_node.errors import InvalidPatient
from mme_node.model import Feature, Gene, GenomicFeature, Patient, PatientRecord
from mme_node.vocabulary.branches import (
    AGE_OF_ONSET,
    FEATURE,
    INHERITANCE_MODE,
    TermHierarchy,
    TermUse,
)
from mme_node.vocabulary.genes import GeneLookupError, GeneResolver
from mme_node.vocabulary.liftover import VariantLifter


class TermResolver(TermHierarchy, Protocol):
    """Maps any HPO id of a release (primary, alt_id, obsolete) to its primary id.

    Raises :class:`hpo.errors.HPOError` (``UnknownTermError``,
    ``ObsoleteTermError``) for an id it cannot map; ``hpo.Ontology`` is one.
    It also knows the hierarchy, so that a term from the wrong branch (a mode
    of inheritance as a phenotype) is refused (see :mod:`.branches`).
    """

    def resolve(self, term_id: str, *, follow_consider: bool = False) -> str: ...


def derive_terms(patient: Patient, terms: TermResolver) -> Patient:
    """The patient's features derived again from their submitted ids with ``terms``.

    A pure function of the submitted ids: deriving with release A, then B,
    then A again gives exactly the first result.
    """
    return TermDerivation(terms).patient(patient)


def derive_record(record: PatientRecord, release: Release) -> PatientRecord:
    """``record`` as derived with ``release`` (itself if it already was)."""
    if record.hpo_release == release.version:
        return record
    patient = _derivation(release.ontology).patient(record.patient)
    return dataclasses.replace(record, patient=patient, hpo_release=release.version)


class TermDerivation:
    """Derives features with one release, resolving each distinct submitted id once.

    Re-deriving every stored patient on a release switch meets the same few
    thousand ids again and again; features and patients that come out the
    same are returned as they are (no copy). Safe to share between threads:
    a race only resolves an id twice.
    """

    def __init__(self, terms: TermResolver) -> None:
        self.terms = terms
        self._outcomes: dict[str, tuple[str, HPOError | None]] = {}

    def outcome(self, source: str) -> tuple[str, HPOError | None]:
        """The current term of ``source``, or ``source`` itself and why it is pending."""
        found = self._outcomes.get(source)
        if found is None:
            try:
                found = (self.terms.resolve(source, follow_consider=True), None)
            except HPOError as error:
                found = (source, error)
            self._outcomes[source] = found
        return found

    def feature(self, feature: Feature) -> tuple[Feature, HPOError | None]:
        """The derived feature, and why it is pending (None when it is not)."""
        source = feature.source_id
        current, unplaced = self.outcome(source)
        pending = unplaced is not None
        submitted = None if current == source else source
        if (feature.id, feature.submitted_id, feature.pending) == (current, submitted, pending):
            return feature, unplaced
        derived = Feature(
            id=current,
            observed=feature.observed,
            label=feature.label,
            age_of_onset=feature.age_of_onset,
            submitted_id=submitted,
            pending=pending,
        )
        return derived, unplaced

    def patient(self, patient: Patient) -> Patient:
        features = tuple(self.feature(feature)[0] for feature in patient.features)
        if all(new is old for new, old in zip(features, patient.features, strict=True)):
            return patient
        return patient.replace(features=features)


@functools.lru_cache(maxsize=4)
def _derivation(ontology: TermResolver) -> TermDerivation:
    """One derivation per release in use (the current one, and the next during a switch)."""
    return TermDerivation(ontology)


class _Normaliser:
    """Collects every problem of one patient so that the error lists them all."""

    def __init__(self, terms: TermResolver, genes: GeneResolver) -> None:
        self.terms = terms
        self.genes = genes
        self.errors: list[tuple[str, str]] = []
        self.warnings: list[str] = []

    def qualifier(self, term_id: str | None, path: str, use: TermUse) -> str | None:
        """An onset or inheritance id, kept as submitted; a warning if the release lacks it.

        A term the release places in the wrong branch (a phenotype as an onset)
        is an error.
        """
        if term_id is not None:
            try:
                current = self.terms.resolve(term_id)
            except HPOError as error:
                self.warnings.append(f"{path}: {error}; kept as submitted")
                return term_id
            problem = use.misplaced(self.terms, current)
            if problem is not None:
                self.errors.append((path, problem))
        return term_id

    def features(self, features: tuple[Feature, ...], path: str) -> tuple[Feature, ...]:
        """Every submitted term once, derived (first wins; observed beats excluded).

        Only repeats of the same submitted id are merged: two ids that this
        release maps to one term are both kept, since another release may
        tell them apart (matching counts the term once).
        """
        kept: dict[str, tuple[int, Feature]] = {}
        for i, feature in enumerate(features):
            where = f"{path}[{i}]"
            derived = self.feature(feature, where)
            source = derived.source_id
            if source not in kept:
                kept[source] = (i, derived)
                continue
            first, earlier = kept[source]
            if earlier.observed == feature.observed:
                self.warnings.append(f"{where}: repeats {path}[{first}] ({source}); merged")
                continue
            self.warnings.append(
                f"{where}: {source} is both observed and excluded "
                f"(see {path}[{first}]); kept as observed"
            )
            if feature.observed:
                kept[source] = (first, derived)
        return tuple(feature for _, feature in kept.values())

    def feature(self, feature: Feature, where: str) -> Feature:
        derived, unplaced = TermDerivation(self.terms).feature(feature)
        source = derived.source_id
        problem = None if unplaced is not None else FEATURE.misplaced(self.terms, derived.id)
        if problem is not None:
            self.errors.append((f"{where}.id", problem))
        elif unplaced is not None:
            self.warnings.append(
                f"{where}.id: {unplaced}; kept as submitted and not used for matching "
                "until an HPO release knows it"
            )
        elif derived.id != feature.id:  # news to the submitter (not a re-submitted export)
            self.warnings.append(f"{where}.id: {source} is now {derived.id} in this HPO release")
        return dataclasses.replace(
            derived,
            age_of_onset=self.qualifier(feature.age_of_onset, f"{where}.ageOfOnset", AGE_OF_ONSET),
        )

    def gene(self, gene: Gene, path: str) -> Gene:
        try:
            resolved = self.genes.resolve(gene.id)
        except GeneLookupError as error:
            self.errors.append((path, error.message))
            return gene
        if resolved is None:
            self.warnings.append(f'{path}: "{gene.id}" means no gene; not used for matching')
            return Gene(id=gene.id, label=gene.label)
        return Gene(
            id=gene.id,
            label=gene.label,
            hgnc_id=resolved.hgnc_id,
            symbol=resolved.symbol,
            ensembl_id=resolved.ensembl_id,
            entrez_id=resolved.entrez_id,
        )


def normalise_patient(
    patient: Patient,
    terms: TermResolver,
    genes: GeneResolver,
    lifter: VariantLifter | None = None,
) -> tuple[Patient, list[str]]:
    """The patient with derived HPO terms, resolved genes and lifted variants, plus warnings.

    A term ``terms`` cannot place (newer than the release, or obsolete without
    a single successor) is kept pending with a warning, not refused. With a
    ``lifter``, every GRCh37 variant gets its GRCh38 equivalent
    (``Variant.lifted``, recomputed whatever the input said).

    Raises :class:`InvalidPatient` listing every unknown or ambiguous gene
    and every term from the wrong branch of HPO (see :mod:`.branches`), each
    with its field path and value.
    """
    work = _Normaliser(terms, genes)
    normalised = patient.replace(
        age_of_onset=work.qualifier(patient.age_of_onset, "patient.ageOfOnset", AGE_OF_ONSET),
        inheritance_mode=work.qualifier(
            patient.inheritance_mode, "patient.inheritanceMode", INHERITANCE_MODE
        ),
        features=work.features(patient.features, "patient.features"),
        genomic_features=tuple(
            _lifted(
                dataclasses.replace(
                    g, gene=work.gene(g.gene, f"patient.genomicFeatures[{i}].gene.id")
                ),
                lifter,
            )
            for i, g in enumerate(patient.genomic_features)
        ),
    )
    if work.errors:
        raise InvalidPatient.listing(work.errors)
    return normalised, work.warnings


def _lifted(genomic: GenomicFeature, lifter: VariantLifter | None) -> GenomicFeature:
    if lifter is None or genomic.variant is None:
        return genomic
    return dataclasses.replace(genomic, variant=lifter.with_lift(genomic.variant))
