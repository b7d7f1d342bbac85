"""The case form: HTML form fields <-> an MME patient, and API errors <-> form fields.

The form builds the same patient JSON a client would post to
``/api/patients``, and the patient service validates it with the same rules;
its error names each problem's path (``patient.features[2].id``), which
:meth:`CaseForm.with_problems` turns into a message beside the field that
holds that value. Nothing here validates on its own account.

What the form does not edit (a phenotype's age of onset, a variant's type,
the contact's roles, ...) is carried over from the stored patient.

Rows are numbered fields: ``features-3-term``, ``genes-0-position``. A
variant position is entered 1-based (as in VCF and HGVS ``g.``), and becomes
the MME 0-based ``start`` and exclusive ``end``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from mme_node.model import (
    Consent,
    DisclosureLevel,
    GenomicFeature,
    Patient,
    PatientRecord,
    Sex,
    Sharing,
)

SPARE_FEATURE_ROWS = 3
SPARE_GENE_ROWS = 1
DEFAULT_ASSEMBLY = "GRCh38"
FORM_ERRORS = "form"
"""Where a problem goes that belongs to no single field (listed at the top of the form)."""

_HPO_ID = re.compile(r"HP:\d{7}", re.IGNORECASE)
_ROW_FIELD = re.compile(r"(features|genes)-(\d+)-([a-z]+)")
_LIST_SEPARATORS = re.compile(r"[\s,;]+")

TermLookup = Callable[[str], str | None]
"""Finds the HPO id of a term typed by name (exact name or synonym), or None."""


@dataclass
class FeatureRow:
    term: str = ""
    observed: str = "yes"


@dataclass
class GeneRow:
    gene: str = ""
    assembly: str = DEFAULT_ASSEMBLY
    chromosome: str = ""
    position: str = ""
    ref: str = ""
    alt: str = ""
    zygosity: str = ""

    @property
    def has_variant(self) -> bool:
        return any((self.chromosome, self.position, self.ref, self.alt))

    @property
    def is_empty(self) -> bool:
        return not self.gene and not self.has_variant


@dataclass
class CaseForm:
    """The values of a case form, as shown or as posted, with problems by field name."""

    id: str = ""
    label: str = ""
    sex: str = ""
    test: bool = False
    age_of_onset: str = ""
    inheritance: str = ""
    disorders: str = ""
    contact_name: str = ""
    contact_institution: str = ""
    contact_email: str = ""
    contact_href: str = ""
    consent_sharing: str = ""
    consent_countries: str = ""
    consent_disclosure: str = ""
    features: list[FeatureRow] = field(default_factory=list)
    genes: list[GeneRow] = field(default_factory=list)
    version: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    # ------------------------------------------------------------ reading

    @classmethod
    def from_form(cls, form: FormData) -> CaseForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        version = text("version")
        case = cls(
            id=text("id"),
            label=text("label"),
            sex=text("sex"),
            test=text("test") == "yes",
            age_of_onset=text("age_of_onset"),
            inheritance=text("inheritance"),
            disorders=text("disorders"),
            contact_name=text("contact_name"),
            contact_institution=text("contact_institution"),
            contact_email=text("contact_email"),
            contact_href=text("contact_href"),
            consent_sharing=text("consent_sharing"),
            consent_countries=text("consent_countries"),
            consent_disclosure=text("consent_disclosure"),
            version=int(version) if version.isdigit() else None,
        )
        features: dict[int, FeatureRow] = {}
        genes: dict[int, GeneRow] = {}
        for name in form:
            found = _ROW_FIELD.fullmatch(name)
            if found is None:
                continue
            kind, row, attribute = found[1], int(found[2]), found[3]
            rows: dict[int, Any] = features if kind == "features" else genes
            target = rows.setdefault(row, FeatureRow() if kind == "features" else GeneRow())
            if attribute in {f.name for f in dataclasses.fields(target)}:
                setattr(target, attribute, text(name))
        case.features = [features[row] for row in sorted(features) if features[row].term]
        case.genes = [genes[row] for row in sorted(genes) if not genes[row].is_empty]
        return case

    @classmethod
    def from_record(cls, record: PatientRecord, term_name: Callable[[str], str]) -> CaseForm:
        """The form of a stored patient (``term_name`` labels its HPO terms)."""
        patient = record.patient
        contact = patient.contact
        consent = record.consent
        return cls(
            id=patient.id,
            label=patient.label or "",
            sex=patient.sex.value if patient.sex else "",
            test=patient.test,
            age_of_onset=patient.age_of_onset or "",
            inheritance=patient.inheritance_mode or "",
            disorders=", ".join(d.id for d in patient.disorders),
            contact_name=contact.name,
            contact_institution=contact.institution or "",
            contact_email=contact.email or "",
            contact_href=contact.href,
            consent_sharing=consent.sharing.value if consent else "",
            consent_countries=", ".join(consent.countries) if consent else "",
            consent_disclosure=consent.disclosure.value if consent else "",
            features=[
                FeatureRow(term_text(f.id, term_name(f.id)), "yes" if f.observed else "no")
                for f in patient.features
            ],
            genes=[_gene_row(g) for g in patient.genomic_features],
            version=record.version,
        )

    # ------------------------------------------------------------ writing

    def patient_json(self, find_term: TermLookup, stored: Patient | None = None) -> dict[str, Any]:
        """The MME patient this form describes, with ``stored``'s fields the form does not edit."""
        kept = _Kept.of(stored)
        contact: dict[str, Any] = {"name": self.contact_name, **kept.contact}
        href = self.contact_href or (f"mailto:{self.contact_email}" if self.contact_email else "")
        for key, value in (
            ("institution", self.contact_institution),
            ("email", self.contact_email),
            ("href", href),
        ):
            if value:
                contact[key] = value
        patient: dict[str, Any] = {"id": self.id, "contact": contact, **kept.patient}
        for key, value in (
            ("label", self.label),
            ("sex", self.sex),
            ("ageOfOnset", self.age_of_onset),
            ("inheritanceMode", self.inheritance),
        ):
            if value:
                patient[key] = value
        if self.test:
            patient["test"] = True
        disorders = [d for d in _LIST_SEPARATORS.split(self.disorders) if d]
        if disorders:
            patient["disorders"] = [{**kept.disorders.get(d, {}), "id": d} for d in disorders]
        if self.features:
            patient["features"] = [
                self._feature_json(row, find_term, kept) for row in self.features
            ]
        if self.genes:
            patient["genomicFeatures"] = [self._genomic_json(row, kept) for row in self.genes]
        return patient

    def consent_json(self, stored: Consent | None = None) -> dict[str, Any] | None:
        """The consent this form gives, or None to leave the patient under the node's default.

        The data-use (DUO) codes of ``stored`` are kept: the form shows them, it does not edit them.
        """
        if not self.consent_sharing:
            return None
        consent: dict[str, Any] = {
            "sharing": self.consent_sharing,
            "disclosure": self.consent_disclosure,
        }
        countries = [c.upper() for c in _LIST_SEPARATORS.split(self.consent_countries) if c]
        if countries:
            consent["countries"] = countries
        if stored is not None and stored.data_use:
            consent["dataUse"] = [
                {"id": use.code, **({"countries": list(use.countries)} if use.countries else {})}
                for use in stored.data_use
            ]
        return consent

    @staticmethod
    def _feature_json(row: FeatureRow, find_term: TermLookup, kept: _Kept) -> dict[str, Any]:
        term_id = term_id_of(row.term, find_term)
        return {**kept.features.get(term_id, {}), "id": term_id, "observed": row.observed}

    @staticmethod
    def _genomic_json(row: GeneRow, kept: _Kept) -> dict[str, Any]:
        genomic: dict[str, Any] = {**kept.genomic.get(row.gene.casefold(), {})}
        genomic["gene"] = {"id": row.gene}
        if row.has_variant:
            genomic["variant"] = _variant_json(row)
        if row.zygosity:
            genomic["zygosity"] = int(row.zygosity) if row.zygosity.isdigit() else row.zygosity
        return genomic

    # ------------------------------------------------------------ problems

    def with_problems(self, problems: list[tuple[str, str]]) -> CaseForm:
        """This form with each ``(path, message)`` problem placed beside its field."""
        errors: dict[str, list[str]] = {}
        for path, message in problems:
            errors.setdefault(field_of(path), []).append(message)
        return dataclasses.replace(self, errors=errors)

    def with_error(self, message: str) -> CaseForm:
        return dataclasses.replace(self, errors={FORM_ERRORS: [message]})

    def error(self, name: str) -> str:
        """The messages about field ``name``, as one sentence ("" when none)."""
        return "; ".join(self.errors.get(name, ()))

    def error_summary(self) -> list[tuple[str, str, str]]:
        """Every problem as ``(field name, field label, message)``, in form order."""
        return [
            (name, field_label(name), message)
            for name, messages in sorted(self.errors.items(), key=lambda item: _order(item[0]))
            for message in messages
        ]

    def with_spare_rows(self) -> CaseForm:
        """The form with empty rows to add terms and genes to."""
        return dataclasses.replace(
            self,
            features=[*self.features, *(FeatureRow() for _ in range(SPARE_FEATURE_ROWS))],
            genes=[*self.genes, *(GeneRow() for _ in range(SPARE_GENE_ROWS))],
        )


def term_text(term_id: str, name: str) -> str:
    """How a chosen term reads in its input: ``Seizure (HP:0001250)``."""
    return f"{name} ({term_id})" if name else term_id


def term_id_of(text: str, find_term: TermLookup) -> str:
    """The HPO id in ``text``, else the term of that exact name, else the text itself.

    The text itself goes to validation, whose message says it is not an HPO id.
    """
    if found := _HPO_ID.search(text):
        return found[0].upper()
    return find_term(text) or text


_FIELDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"patient\.id\b", "id"),
        (r"patient\.label\b", "label"),
        (r"patient\.sex\b", "sex"),
        (r"patient\.test\b", "test"),
        (r"patient\.ageOfOnset\b", "age_of_onset"),
        (r"patient\.inheritanceMode\b", "inheritance"),
        (r"patient\.disorders\b", "disorders"),
        (r"patient\.contact\.institution\b", "contact_institution"),
        (r"patient\.contact\.email\b", "contact_email"),
        (r"patient\.contact\.href\b", "contact_href"),
        (r"patient\.contact\b", "contact_name"),
        (r"patient\.features\[(\d+)\]", "features-{}-term"),
        (r"patient\.features\b", "features"),
        (r"patient\.genomicFeatures\[(\d+)\]\.variant\.referenceName\b", "genes-{}-chromosome"),
        (r"patient\.genomicFeatures\[(\d+)\]\.variant\.referenceBases\b", "genes-{}-ref"),
        (r"patient\.genomicFeatures\[(\d+)\]\.variant\.alternateBases\b", "genes-{}-alt"),
        (r"patient\.genomicFeatures\[(\d+)\]\.variant\.assembly\b", "genes-{}-assembly"),
        (r"patient\.genomicFeatures\[(\d+)\]\.variant\b", "genes-{}-position"),
        (r"patient\.genomicFeatures\[(\d+)\]\.zygosity\b", "genes-{}-zygosity"),
        (r"patient\.genomicFeatures\[(\d+)\]", "genes-{}-gene"),
        (r"patient\.genomicFeatures\b", "genes"),
        (r"patient$", "features"),
        (r"consent\.countries\b", "consent_countries"),
        (r"consent\.disclosure\b", "consent_disclosure"),
        (r"consent\b", "consent_sharing"),
    )
)


def field_of(path: str) -> str:
    """The form field holding the value at an API error path (``FORM_ERRORS`` if none).

    Row numbers carry over: the form sends its non-empty rows in order, and
    :meth:`CaseForm.from_form` keeps exactly those rows, in that order.
    """
    for pattern, name in _FIELDS:
        if found := pattern.match(path):
            return name.format(*found.groups())
    return FORM_ERRORS


_LABELS = {
    FORM_ERRORS: "The case",
    "id": "Patient id",
    "label": "Label",
    "sex": "Sex",
    "test": "Test patient",
    "age_of_onset": "Age of onset",
    "inheritance": "Inheritance",
    "disorders": "Disorders",
    "contact_name": "Contact name",
    "contact_institution": "Institution",
    "contact_email": "Contact email",
    "contact_href": "Contact link",
    "features": "Phenotype",
    "genes": "Genes",
    "consent_sharing": "Consent: matched with",
    "consent_countries": "Consent: countries",
    "consent_disclosure": "Consent: a match shows",
}
_ROW_LABELS = {
    "term": "Phenotype term {}",
    "gene": "Gene {}",
    "assembly": "Assembly of variant {}",
    "chromosome": "Chromosome of variant {}",
    "position": "Position of variant {}",
    "ref": "Reference bases of variant {}",
    "alt": "Alternate bases of variant {}",
    "zygosity": "Zygosity of variant {}",
}
_FORM_ORDER = [
    *(FORM_ERRORS, "id", "label", "sex", "test", "features", "genes", "disorders"),
    *("age_of_onset", "inheritance", "contact_name", "contact_institution", "contact_email"),
    *("contact_href", "consent_sharing", "consent_countries", "consent_disclosure"),
]


def field_label(name: str) -> str:
    """What a field is called on the form (its number counted from 1 for a row)."""
    if found := _ROW_FIELD.fullmatch(name):
        return _ROW_LABELS.get(found[3], name).format(int(found[2]) + 1)
    return _LABELS.get(name, name)


def _order(name: str) -> tuple[int, int, str]:
    """Sort key putting problems in the order of the form's fields."""
    if found := _ROW_FIELD.fullmatch(name):
        section = _FORM_ORDER.index(found[1])
        return (section, int(found[2]), found[3])
    position = _FORM_ORDER.index(name) if name in _FORM_ORDER else len(_FORM_ORDER)
    return (position, 0, name)


def _variant_json(row: GeneRow) -> dict[str, Any]:
    variant: dict[str, Any] = {"assembly": row.assembly, "referenceName": row.chromosome}
    if row.ref:
        variant["referenceBases"] = row.ref
    if row.alt:
        variant["alternateBases"] = row.alt
    if row.position.isdigit() and int(row.position) > 0:
        start = int(row.position) - 1
        variant["start"] = start
        variant["end"] = start + max(len(row.ref), 1)
    elif row.position:
        variant["start"] = row.position  # not a position: validation says so at this field
    return variant


def _gene_row(genomic: GenomicFeature) -> GeneRow:
    gene = genomic.gene
    row = GeneRow(gene=gene.symbol or gene.id, zygosity=str(genomic.zygosity or ""))
    variant = genomic.variant
    if variant is not None:
        row.assembly = variant.assembly.split(".")[0]
        row.chromosome = variant.reference_name
        row.position = "" if variant.start is None else str(variant.start + 1)
        row.ref = variant.reference_bases or ""
        row.alt = variant.alternate_bases or ""
    return row


@dataclass(frozen=True)
class _Kept:
    """A stored patient's fields that the form does not show, found by what the form shows."""

    patient: Mapping[str, Any] = field(default_factory=dict)
    contact: Mapping[str, Any] = field(default_factory=dict)
    features: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    genomic: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    disorders: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, stored: Patient | None) -> _Kept:
        if stored is None:
            return cls()
        patient = {"species": stored.species} if stored.species else {}
        contact = {"roles": list(stored.contact.roles)} if stored.contact.roles else {}
        features = {f.id: {"ageOfOnset": f.age_of_onset} for f in stored.features if f.age_of_onset}
        genomic: dict[str, dict[str, Any]] = {}
        for g in stored.genomic_features:
            if g.type is not None:
                label = {"label": g.type.label} if g.type.label else {}
                kept_type = {"type": {"id": g.type.id, **label}}
                for name in (g.gene.id, g.gene.symbol):
                    if name:
                        genomic[name.casefold()] = kept_type
        disorders = {d.id: {"label": d.label} for d in stored.disorders if d.label}
        return cls(patient, contact, features, genomic, disorders)


SEX_CHOICES: tuple[tuple[str, str], ...] = (
    (Sex.FEMALE.value, "Female"),
    (Sex.MALE.value, "Male"),
    (Sex.OTHER.value, "Other"),
    (Sex.MIXED_SAMPLE.value, "Mixed sample"),
    (Sex.NOT_APPLICABLE.value, "Not applicable"),
)


SHARING_CHOICES: tuple[tuple[str, str], ...] = (
    (Sharing.LOCAL.value, "This node only"),
    (Sharing.COUNTRIES.value, "Peer nodes in the countries below"),
    (Sharing.ALL.value, "Any peer node"),
)
DISCLOSURE_CHOICES: tuple[tuple[str, str], ...] = (
    (DisclosureLevel.CONTACT.value, "Only the contact"),
    (DisclosureLevel.PHENOTYPE.value, "Contact and phenotype"),
    (DisclosureLevel.GENES.value, "Contact, phenotype and candidate genes"),
    (DisclosureLevel.VARIANTS.value, "Everything, variants included"),
)
