"""Bring a validated patient to the node's canonical vocabulary.

:func:`normalise_patient` maps every HPO id to the current primary term of
the loaded release, every gene to its HGNC identity and every GRCh37 variant
to its GRCh38 equivalent too, so that matching can compare ids directly. It
is a pure function of the patient, the ontology, the gene table and the
chain: run it again after loading a new HPO release (the ids the submitter
sent are kept in ``Feature.submitted_id``).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from hpo.errors import HPOError
from mme_node.errors import InvalidPatient
from mme_node.model import Feature, Gene, GenomicFeature, Patient
from mme_node.vocabulary.genes import GeneIndex, GeneLookupError
from mme_node.vocabulary.liftover import VariantLifter


class TermResolver(Protocol):
    """Maps any HPO id of a release (primary, alt_id, obsolete) to its primary id.

    Raises :class:`hpo.errors.HPOError` (``UnknownTermError``,
    ``ObsoleteTermError``) for an id it cannot map; ``hpo.Ontology`` is one.
    """

    def resolve(self, term_id: str) -> str: ...


class _Normaliser:
    """Collects every problem of one patient so that the error lists them all."""

    def __init__(self, terms: TermResolver, genes: GeneIndex) -> None:
        self.terms = terms
        self.genes = genes
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def term(self, term_id: str, path: str) -> str:
        try:
            primary = self.terms.resolve(term_id)
        except HPOError as error:
            self.errors.append(f'{path}: "{term_id}" cannot be used: {error}')
            return term_id
        if primary != term_id:
            self.warnings.append(f"{path}: {term_id} is now {primary} in this HPO release")
        return primary

    def optional_term(self, term_id: str | None, path: str) -> str | None:
        return None if term_id is None else self.term(term_id, path)

    def features(self, features: tuple[Feature, ...], path: str) -> tuple[Feature, ...]:
        """Primary ids, duplicates collapsed (first wins; observed beats excluded)."""
        kept: dict[str, tuple[int, Feature]] = {}
        for i, feature in enumerate(features):
            where = f"{path}[{i}]"
            primary = self.term(feature.id, f"{where}.id")
            submitted = feature.submitted_id or feature.id
            normalised = Feature(
                id=primary,
                observed=feature.observed,
                label=feature.label,
                age_of_onset=self.optional_term(feature.age_of_onset, f"{where}.ageOfOnset"),
                submitted_id=submitted if submitted != primary else None,
            )
            if primary not in kept:
                kept[primary] = (i, normalised)
                continue
            first, earlier = kept[primary]
            if earlier.observed == feature.observed:
                self.warnings.append(f"{where}: repeats {path}[{first}] ({primary}); merged")
                continue
            self.warnings.append(
                f"{where}: {primary} is both observed and excluded "
                f"(see {path}[{first}]); kept as observed"
            )
            if feature.observed:
                kept[primary] = (first, normalised)
        return tuple(feature for _, feature in kept.values())

    def gene(self, gene: Gene, path: str) -> Gene:
        try:
            resolved = self.genes.resolve(gene.id)
        except GeneLookupError as error:
            self.errors.append(f"{path}: {error.message}")
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
    genes: GeneIndex,
    lifter: VariantLifter | None = None,
) -> tuple[Patient, list[str]]:
    """The patient with primary HPO ids, resolved genes and lifted variants, plus warnings.

    With a ``lifter``, every GRCh37 variant gets its GRCh38 equivalent
    (``Variant.lifted``, recomputed whatever the input said).

    Raises :class:`InvalidPatient` listing every unknown term, obsolete term
    without a single replacement, and unknown or ambiguous gene, each with
    its field path and value.
    """
    work = _Normaliser(terms, genes)
    normalised = patient.replace(
        age_of_onset=work.optional_term(patient.age_of_onset, "patient.ageOfOnset"),
        inheritance_mode=work.optional_term(patient.inheritance_mode, "patient.inheritanceMode"),
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
        raise InvalidPatient("; ".join(work.errors))
    return normalised, work.warnings


def _lifted(genomic: GenomicFeature, lifter: VariantLifter | None) -> GenomicFeature:
    if lifter is None or genomic.variant is None:
        return genomic
    return dataclasses.replace(genomic, variant=lifter.with_lift(genomic.variant))
