"""The storage encoding of patients: :class:`PatientRecord` <-> JSON text.

This is the node's own internal format, not MME JSON: keys are the model's
field names, ``None`` values and empty tuples are left out, tuples become
lists, enums their values and datetimes ISO 8601 text. Decoding gives back an
object equal to the one encoded, field for field, so a store returns exactly
what it took.

The format is deliberately dumb (no schema library) because it sits on the
hot path of bulk imports and index rebuilds; when the model changes, a store
migration rewrites stored documents (see ``docs/storage.md``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mme_node.model import (
    Consent,
    Contact,
    DataUse,
    DisclosureLevel,
    Feature,
    Gene,
    GenomicFeature,
    OntologyClass,
    Patient,
    PatientRecord,
    Sex,
    Sharing,
    Variant,
)

Document = dict[str, Any]


class CodecError(ValueError):
    """A record that cannot be encoded, or stored text that is not a valid document."""


def encode_patient(patient: Patient) -> str:
    """The patient as compact JSON text; ``CodecError`` if it holds unencodable values."""
    return _dumps(patient_to_document(patient))


def decode_patient(text: str) -> Patient:
    return patient_from_document(_loads(text))


def encode_record(record: PatientRecord) -> str:
    """The whole record (patient and storage metadata) as JSON text."""
    return _dumps(record_to_document(record))


def decode_record(text: str) -> PatientRecord:
    return record_from_document(_loads(text))


def record_to_document(record: PatientRecord) -> Document:
    return _compact(
        {
            "owner": record.owner,
            "patient": patient_to_document(record.patient),
            "hpo_release": record.hpo_release,
            "submitted_json": record.submitted_json,
            "version": record.version,
            "created": _datetime_to_text(record.created),
            "updated": _datetime_to_text(record.updated),
            "warnings": list(record.warnings),
            "consent": None if record.consent is None else consent_to_document(record.consent),
        }
    )


def record_from_document(document: Document) -> PatientRecord:
    try:
        return PatientRecord(
            owner=document["owner"],
            patient=patient_from_document(document["patient"]),
            hpo_release=document["hpo_release"],
            submitted_json=document["submitted_json"],
            version=document.get("version", 1),
            created=_datetime_from_text(document.get("created")),
            updated=_datetime_from_text(document.get("updated")),
            warnings=tuple(document.get("warnings", ())),
            consent=_optional_consent(document.get("consent")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CodecError(f"not a stored patient record: {error!r}") from error


def encode_consent(consent: Consent | None) -> str | None:
    """The consent as compact JSON text; None (the node default applies) stays None."""
    return None if consent is None else _dumps(consent_to_document(consent))


def decode_consent(text: str | None) -> Consent | None:
    return None if text is None else _optional_consent(_loads(text))


def consent_to_document(consent: Consent) -> Document:
    return _compact(
        {
            "sharing": consent.sharing.value,
            "disclosure": consent.disclosure.value,
            "countries": list(consent.countries),
            "data_use": [
                _compact({"code": use.code, "countries": list(use.countries)})
                for use in consent.data_use
            ],
        }
    )


def _optional_consent(document: Document | None) -> Consent | None:
    if document is None:
        return None
    try:
        return Consent(
            sharing=Sharing(document["sharing"]),
            disclosure=DisclosureLevel(document["disclosure"]),
            countries=tuple(document.get("countries", ())),
            data_use=tuple(
                DataUse(code=use["code"], countries=tuple(use.get("countries", ())))
                for use in document.get("data_use", ())
            ),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CodecError(f"not a stored consent: {error!r}") from error


def patient_to_document(patient: Patient) -> Document:
    return _compact(
        {
            "id": patient.id,
            "contact": contact_to_document(patient.contact),
            "label": patient.label,
            "species": patient.species,
            "sex": patient.sex.value if patient.sex is not None else None,
            "age_of_onset": patient.age_of_onset,
            "inheritance_mode": patient.inheritance_mode,
            "disorders": [_ontology_class_to_document(d) for d in patient.disorders],
            "features": [_feature_to_document(f) for f in patient.features],
            "genomic_features": [_genomic_feature_to_document(g) for g in patient.genomic_features],
            "test": patient.test,
        }
    )


def patient_from_document(document: Document) -> Patient:
    try:
        sex = document.get("sex")
        return Patient(
            id=document["id"],
            contact=contact_from_document(document["contact"]),
            label=document.get("label"),
            species=document.get("species"),
            sex=Sex(sex) if sex is not None else None,
            age_of_onset=document.get("age_of_onset"),
            inheritance_mode=document.get("inheritance_mode"),
            disorders=tuple(
                _ontology_class_from_document(d) for d in document.get("disorders", ())
            ),
            features=tuple(_feature_from_document(f) for f in document.get("features", ())),
            genomic_features=tuple(
                _genomic_feature_from_document(g) for g in document.get("genomic_features", ())
            ),
            test=document.get("test", False),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CodecError(f"not a stored patient: {error!r}") from error


def contact_to_document(contact: Contact) -> Document:
    return _compact(
        {
            "name": contact.name,
            "href": contact.href,
            "institution": contact.institution,
            "email": contact.email,
            "roles": list(contact.roles),
        }
    )


def contact_from_document(document: Document) -> Contact:
    return Contact(
        name=document["name"],
        href=document["href"],
        institution=document.get("institution"),
        email=document.get("email"),
        roles=tuple(document.get("roles", ())),
    )


def _ontology_class_to_document(value: OntologyClass) -> Document:
    return _compact({"id": value.id, "label": value.label, "submitted_id": value.submitted_id})


def _ontology_class_from_document(document: Document) -> OntologyClass:
    return OntologyClass(
        id=document["id"], label=document.get("label"), submitted_id=document.get("submitted_id")
    )


def _feature_to_document(feature: Feature) -> Document:
    return _compact(
        {
            "id": feature.id,
            "observed": feature.observed,
            "label": feature.label,
            "age_of_onset": feature.age_of_onset,
            "submitted_id": feature.submitted_id,
            "pending": feature.pending or None,
        }
    )


def _feature_from_document(document: Document) -> Feature:
    return Feature(
        id=document["id"],
        observed=document.get("observed", True),
        label=document.get("label"),
        age_of_onset=document.get("age_of_onset"),
        submitted_id=document.get("submitted_id"),
        pending=document.get("pending", False),
    )


def _genomic_feature_to_document(value: GenomicFeature) -> Document:
    gene = value.gene
    variant = value.variant
    return _compact(
        {
            "gene": _compact(
                {
                    "id": gene.id,
                    "hgnc_id": gene.hgnc_id,
                    "symbol": gene.symbol,
                    "ensembl_id": gene.ensembl_id,
                    "entrez_id": gene.entrez_id,
                    "label": gene.label,
                }
            ),
            "variant": None if variant is None else _variant_to_document(variant),
            "zygosity": value.zygosity,
            "type": None if value.type is None else _ontology_class_to_document(value.type),
        }
    )


def _genomic_feature_from_document(document: Document) -> GenomicFeature:
    gene = document["gene"]
    variant = document.get("variant")
    kind = document.get("type")
    return GenomicFeature(
        gene=gene_from_document(gene),
        variant=None if variant is None else _variant_from_document(variant),
        zygosity=document.get("zygosity"),
        type=None if kind is None else _ontology_class_from_document(kind),
    )


def gene_from_document(document: Document) -> Gene:
    """The gene of a dict keyed by its field names: a stored document, or loaded MME JSON."""
    return Gene(
        id=document["id"],
        hgnc_id=document.get("hgnc_id"),
        symbol=document.get("symbol"),
        ensembl_id=document.get("ensembl_id"),
        entrez_id=document.get("entrez_id"),
        label=document.get("label"),
    )


def _variant_to_document(variant: Variant) -> Document:
    return _compact(
        {
            "assembly": variant.assembly,
            "reference_name": variant.reference_name,
            "start": variant.start,
            "end": variant.end,
            "reference_bases": variant.reference_bases,
            "alternate_bases": variant.alternate_bases,
            "lifted": None if variant.lifted is None else _variant_to_document(variant.lifted),
        }
    )


def _variant_from_document(document: Document) -> Variant:
    lifted = document.get("lifted")
    return Variant(
        assembly=document["assembly"],
        reference_name=document["reference_name"],
        start=document.get("start"),
        end=document.get("end"),
        reference_bases=document.get("reference_bases"),
        alternate_bases=document.get("alternate_bases"),
        lifted=None if lifted is None else _variant_from_document(lifted),
    )


def _compact(document: Document) -> Document:
    """Leave out absent values and empty lists; decoding restores them from the defaults."""
    return {key: value for key, value in document.items() if value is not None and value != []}


def _datetime_to_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _datetime_from_text(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _dumps(document: Document) -> str:
    try:
        # ensure_ascii keeps lone surrogates (which UTF-8 cannot hold) representable.
        return json.dumps(document, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise CodecError(f"cannot encode: {error}") from error


def _loads(text: str) -> Document:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CodecError(f"stored text is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise CodecError("stored text is not a JSON object")
    return document
