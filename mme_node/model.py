"""The domain objects of the node: what a patient is once validated.

JSON is turned into these by :mod:`mme_node.formats.schemas` at the edge; everything
inside the node works on these frozen dataclasses and never on raw dicts.
Field names follow the MME API, in Python spelling.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Sex(StrEnum):
    FEMALE = "FEMALE"
    MALE = "MALE"
    OTHER = "OTHER"
    MIXED_SAMPLE = "MIXED_SAMPLE"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class Sharing(StrEnum):
    """Where a patient may be matched: this node only, peers in listed countries, any peer."""

    LOCAL = "local"
    COUNTRIES = "countries"
    ALL = "all"


class DisclosureLevel(StrEnum):
    """What a match may show of a patient; each level adds to the one before it.

    ``contact`` shows who to contact (and a pseudonymous id), ``phenotype``
    adds sex, onset, inheritance, phenotypic features and disorders,
    ``genes`` adds the candidate genes, ``variants`` the exact variants with
    their zygosity and type.
    """

    CONTACT = "contact"
    PHENOTYPE = "phenotype"
    GENES = "genes"
    VARIANTS = "variants"

    @property
    def rank(self) -> int:
        """0 for ``contact`` up to 3 for ``variants``: a higher level shows more."""
        return _DISCLOSURE_ORDER[self]

    def includes(self, other: DisclosureLevel) -> bool:
        return self.rank >= other.rank

    def lesser(self, other: DisclosureLevel) -> DisclosureLevel:
        """The level that shows less of the two."""
        return self if self.rank <= other.rank else other


_DISCLOSURE_ORDER = {level: rank for rank, level in enumerate(DisclosureLevel)}


@dataclass(frozen=True, slots=True)
class DataUse:
    """A GA4GH Data Use Ontology code (``DUO:0000022``), with the countries it names, if any."""

    code: str
    countries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Consent:
    """What the patient agreed to: where it may be matched and what a match may show.

    ``countries`` (ISO 3166 alpha-2) is set for ``Sharing.COUNTRIES`` only;
    ``data_use`` holds the DUO codes recorded with the consent (see
    :mod:`mme_node.security.consent` for those that restrict matching).
    """

    sharing: Sharing
    disclosure: DisclosureLevel
    countries: tuple[str, ...] = ()
    data_use: tuple[DataUse, ...] = ()


@dataclass(frozen=True, slots=True)
class OntologyClass:
    """A coded value (`{"id": ..., "label": ...}`) such as a disorder or variant type.

    ``submitted_id`` keeps what the submitter sent when the id was written in
    its canonical form (``OMIM:`` -> ``MIM:``, ``ORPHA:`` -> ``Orphanet:``).
    """

    id: str
    label: str | None = None
    submitted_id: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    href: str
    institution: str | None = None
    email: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Feature:
    """One HPO phenotype term; ``observed=False`` means explicitly excluded.

    The submitted id is kept forever: it is ``submitted_id`` when normalisation
    changed it, else ``id`` (see :attr:`source_id`). ``id`` is *derived* from it
    with an HPO release (the record's ``hpo_release``): the current primary
    term, through alt ids, ``replaced_by`` and a single ``consider``.
    ``pending`` means that release cannot place the submitted id (unknown to
    it, or obsolete without a single successor): ``id`` is then the submitted
    id and the feature takes no part in matching until a release knows it.
    """

    id: str
    observed: bool = True
    label: str | None = None
    age_of_onset: str | None = None
    submitted_id: str | None = None
    pending: bool = False

    @property
    def source_id(self) -> str:
        """The id as submitted, whatever release the feature was derived with."""
        return self.submitted_id or self.id


@dataclass(frozen=True, slots=True)
class Gene:
    """A gene as submitted (``id``) and, once normalised, its HGNC identity."""

    id: str
    hgnc_id: str | None = None
    symbol: str | None = None
    ensembl_id: str | None = None
    entrez_id: str | None = None
    label: str | None = None


def canonical_reference_name(name: str) -> str:
    """A chromosome as the MME schema spells it: ``chr1`` -> ``1``, ``x`` -> ``X``, ``MT`` -> ``M``.

    The deployed nodes' schema admits ``1``-``22``, ``X``, ``Y`` and ``M``
    (not ``MT``), so ``M`` is the node's one spelling of the mitochondrion.
    """
    chromosome = name.strip().upper().removeprefix("CHR")
    return "M" if chromosome == "MT" else chromosome


@dataclass(frozen=True, slots=True)
class Variant:
    """A genomic variant; ``start`` is 0-based and ``end`` exclusive (MME convention).

    ``lifted`` is the same allele on GRCh38 when the variant is on GRCh37,
    derived at normalisation (:mod:`mme_node.vocabulary.liftover`), so that
    variants of the two assemblies match.
    """

    assembly: str
    reference_name: str
    start: int | None = None
    end: int | None = None
    reference_bases: str | None = None
    alternate_bases: str | None = None
    lifted: Variant | None = None

    @property
    def key(self) -> str | None:
        """A comparable identity for the exact allele, or None when incomplete."""
        if self.start is None or not self.reference_bases or not self.alternate_bases:
            return None
        build = self.assembly.split(".")[0].upper()
        chrom = canonical_reference_name(self.reference_name)
        return f"{build}:{chrom}:{self.start}:{self.reference_bases}>{self.alternate_bases}"

    @property
    def keys(self) -> tuple[str, ...]:
        """The allele's keys on every assembly it is known on (its own, then GRCh38)."""
        keys = (self.key, None if self.lifted is None else self.lifted.key)
        return tuple(key for key in keys if key)


@dataclass(frozen=True, slots=True)
class GenomicFeature:
    gene: Gene
    variant: Variant | None = None
    zygosity: int | None = None
    type: OntologyClass | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    """An MME patient. At least one of ``features`` or ``genomic_features`` is set."""

    id: str
    contact: Contact
    label: str | None = None
    species: str | None = None
    sex: Sex | None = None
    age_of_onset: str | None = None
    inheritance_mode: str | None = None
    disorders: tuple[OntologyClass, ...] = ()
    features: tuple[Feature, ...] = ()
    genomic_features: tuple[GenomicFeature, ...] = ()
    test: bool = False

    @property
    def observed_terms(self) -> tuple[str, ...]:
        """Primary ids of the observed terms to match on, in submission order, no repeats.

        Pending features are left out. Two submitted ids that one release
        merges (an alt id and its primary term) count once.
        """
        return tuple(dict.fromkeys(f.id for f in self.features if f.observed and not f.pending))

    @property
    def excluded_terms(self) -> tuple[str, ...]:
        """Primary ids of the excluded terms to match on; a term also observed is observed."""
        observed = set(self.observed_terms)
        return tuple(
            dict.fromkeys(
                f.id
                for f in self.features
                if not f.observed and not f.pending and f.id not in observed
            )
        )

    @property
    def pending_terms(self) -> tuple[str, ...]:
        """Submitted ids the record's release cannot place (see :class:`Feature`)."""
        return tuple(dict.fromkeys(f.id for f in self.features if f.pending))

    @property
    def gene_ids(self) -> tuple[str, ...]:
        """Normalised HGNC ids of the candidate genes (unresolved genes are left out)."""
        return tuple(dict.fromkeys(g.gene.hgnc_id for g in self.genomic_features if g.gene.hgnc_id))

    @property
    def variant_keys(self) -> tuple[str, ...]:
        """Every key of every complete variant: as submitted, and on GRCh38 when lifted.

        A query matches a candidate when one of these is among the candidate's
        :attr:`allele_keys`.
        """
        keys = (k for g in self.genomic_features if g.variant is not None for k in g.variant.keys)
        return tuple(dict.fromkeys(keys))

    @property
    def allele_keys(self) -> tuple[str, ...]:
        """One key per distinct allele: on GRCh38 when the variant was lifted there.

        What a candidate is indexed by, and what the MME metrics count, so
        that a lifted variant counts once.
        """
        variants = (g.variant.lifted or g.variant for g in self.genomic_features if g.variant)
        return tuple(dict.fromkeys(v.key for v in variants if v.key))

    def replace(self, **changes: object) -> Patient:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A stored patient: the patient plus what the node knows about its storage.

    ``owner`` is the submitting client; ``(owner, patient.id)`` is unique.
    ``version`` starts at 1 and grows by one on each replace (optimistic
    concurrency). ``submitted_json`` is the request body's patient verbatim.
    ``consent`` is None when the submitter gave none: the node's default
    consent (a setting) then applies, whatever it is when the patient is matched.
    """

    owner: str
    patient: Patient
    hpo_release: str
    submitted_json: str
    version: int = 1
    created: datetime | None = None
    updated: datetime | None = None
    warnings: tuple[str, ...] = field(default=())
    consent: Consent | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.owner, self.patient.id)


@dataclass(frozen=True, slots=True)
class TermMatch:
    """How one query term was matched in a candidate: its best partner and why.

    ``common_ancestor`` is the most informative common ancestor of the two
    terms and ``information_content`` its IC (the Resnik similarity).
    """

    query_term: str
    query_label: str
    candidate_term: str
    candidate_label: str
    common_ancestor: str
    common_ancestor_label: str
    information_content: float
    query_observed: bool = True
    candidate_observed: bool = True
    """False for an excluded term (a pertinent negative), matched by picture scorers only."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a candidate matched: shared genes and variants, and each term's best match."""

    shared_genes: tuple[str, ...] = ()
    shared_variants: tuple[str, ...] = ()
    shared_disorders: tuple[str, ...] = ()
    term_matches: tuple[TermMatch, ...] = ()
    conflicting_terms: tuple[str, ...] = ()
    shared_excluded_terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchResult:
    """One candidate of a match: its score in [0, 1] and the parts it is made of."""

    record: PatientRecord
    score: float
    phenotype_score: float
    genotype_score: float
    explanation: Explanation | None = None
