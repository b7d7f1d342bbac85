"""Import a GA4GH Phenopacket (schema v2) as an MME patient.

The phenopacket is translated field by field into MME patient JSON, which
then goes through :func:`mme_node.formats.schemas.load_patient` like any other
submission: one validator, the same leniencies and the same error messages
(they name the MME field the phenopacket value became). What maps where:

===========================================  ==================================
phenopacket v2                                MME patient
===========================================  ==================================
``id`` (or ``subject.id``)                    ``id`` (unless ``patient_id`` given)
``subject.id``                                ``label``
``subject.sex`` MALE/FEMALE/OTHER_SEX         ``sex`` MALE/FEMALE/OTHER
``subject.taxonomy.id``                       ``species``
``phenotypicFeatures[].type``                 ``features[].id``/``label``
``phenotypicFeatures[].excluded``             ``features[].observed`` "no"
``phenotypicFeatures[].onset.ontologyClass``  ``features[].ageOfOnset``
``diseases[].term``, diagnosis ``disease``    ``disorders`` (excluded ones left out)
genomic interpretation ``gene``               ``genomicFeatures[].gene``
``variationDescriptor.geneContext``           ``genomicFeatures[].gene``
``variationDescriptor.vcfRecord``             ``genomicFeatures[].variant`` (pos - 1)
``variationDescriptor.allelicState``          ``genomicFeatures[].zygosity``
===========================================  ==================================

Phenopackets carry no MME contact, so the caller supplies one. Interpretations
marked ``REJECTED`` are skipped; ages given as ISO 8601 durations are not
turned into HPO onset classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mme_node.errors import InvalidPatient
from mme_node.formats.schemas import ContactSchema, load_patient
from mme_node.model import Contact, Patient

_SEX = {"MALE": "MALE", "FEMALE": "FEMALE", "OTHER_SEX": "OTHER"}
#: GENO allelic states; hemizygous counts as 1 as the MME spec says.
_ZYGOSITY = {
    "GENO:0000135": 1,  # heterozygous
    "GENO:0000134": 1,  # hemizygous
    "GENO:0000136": 2,  # homozygous
}
_PLAIN_ALLELE = re.compile(r"[ACGTNacgtn]+")


def patient_from_phenopacket(
    phenopacket: object, contact: Contact, *, patient_id: str | None = None
) -> tuple[Patient, list[str]]:
    """The MME patient described by a v2 phenopacket, and warnings.

    Raises :class:`InvalidPatient` when the phenopacket is not a v2 object or
    the patient it describes is not a valid MME patient.
    """
    packet = _object(phenopacket, "phenopacket")
    metadata = _object(packet.get("metaData"), "phenopacket.metaData")
    version = str(metadata.get("phenopacketSchemaVersion", "2"))
    if not version.startswith("2"):
        raise InvalidPatient(
            f"phenopacket.metaData.phenopacketSchemaVersion: {version} is not supported (v2 only)"
        )
    warnings: list[str] = []
    subject = _object(packet.get("subject"), "phenopacket.subject")
    features = _list(packet.get("phenotypicFeatures"), "phenopacket.phenotypicFeatures")
    document: dict[str, Any] = {
        "id": patient_id or packet.get("id") or subject.get("id"),
        "label": subject.get("id"),
        "contact": ContactSchema().dump(contact),
        "sex": _SEX.get(str(subject.get("sex"))),
        "species": _object(subject.get("taxonomy"), "phenopacket.subject.taxonomy").get("id"),
        "features": [
            _feature(f, f"phenopacket.phenotypicFeatures[{i}]") for i, f in enumerate(features)
        ],
        "disorders": list(_disorders(packet)),
        "genomicFeatures": list(_genomic_features(packet, warnings)),
    }
    patient, load_warnings = load_patient(document)
    return patient, warnings + load_warnings


def _feature(data: object, path: str) -> dict[str, Any]:
    feature = _object(data, path)
    term = _object(feature.get("type"), f"{path}.type")
    onset = _object(feature.get("onset"), f"{path}.onset")
    return {
        "id": term.get("id"),
        "label": term.get("label"),
        "observed": "no" if feature.get("excluded") is True else "yes",
        "ageOfOnset": _object(onset.get("ontologyClass"), f"{path}.onset.ontologyClass").get("id"),
    }


def _disorders(packet: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Diseases and diagnoses, each id once, in order of appearance."""
    seen: set[object] = set()
    terms = [
        _object(d, f"phenopacket.diseases[{i}]")
        for i, d in enumerate(_list(packet.get("diseases"), "phenopacket.diseases"))
    ]
    candidates = [
        _object(d.get("term"), f"phenopacket.diseases[{i}].term")
        for i, d in enumerate(terms)
        if d.get("excluded") is not True
    ] + [
        _object(diagnosis.get("disease"), f"{path}.disease")
        for path, diagnosis in _diagnoses(packet)
    ]
    for term in candidates:
        if term.get("id") is not None and term["id"] not in seen:
            seen.add(term["id"])
            yield {"id": term["id"], "label": term.get("label")}


def _diagnoses(packet: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    interpretations = _list(packet.get("interpretations"), "phenopacket.interpretations")
    for i, interpretation in enumerate(interpretations):
        path = f"phenopacket.interpretations[{i}]"
        diagnosis = _object(_object(interpretation, path).get("diagnosis"), f"{path}.diagnosis")
        if diagnosis:
            yield f"{path}.diagnosis", diagnosis


def _genomic_features(packet: Mapping[str, Any], warnings: list[str]) -> Iterator[dict[str, Any]]:
    for diagnosis_path, diagnosis in _diagnoses(packet):
        calls_path = f"{diagnosis_path}.genomicInterpretations"
        for j, raw in enumerate(_list(diagnosis.get("genomicInterpretations"), calls_path)):
            path = f"{calls_path}[{j}]"
            call = _object(raw, path)
            if call.get("interpretationStatus") == "REJECTED":
                continue
            if "gene" in call:
                gene = _object(call["gene"], f"{path}.gene")
                yield {"gene": {"id": gene.get("symbol") or gene.get("valueId")}}
                continue
            interpretation_path = f"{path}.variantInterpretation"
            variant_path = f"{interpretation_path}.variationDescriptor"
            interpretation = _object(call.get("variantInterpretation"), interpretation_path)
            descriptor = _object(interpretation.get("variationDescriptor"), variant_path)
            context = _object(descriptor.get("geneContext"), f"{variant_path}.geneContext")
            gene_id = context.get("symbol") or context.get("valueId")
            if not gene_id:
                warnings.append(f"{variant_path}: no geneContext; MME needs a gene, left out")
                continue
            state = _object(descriptor.get("allelicState"), f"{variant_path}.allelicState")
            vcf = descriptor.get("vcfRecord")
            yield {
                "gene": {"id": gene_id},
                "variant": _variant(vcf, f"{variant_path}.vcfRecord", warnings),
                "zygosity": _ZYGOSITY.get(str(state.get("id"))),
            }


def _variant(data: object, path: str, warnings: list[str]) -> dict[str, Any] | None:
    """MME variant from a VCF record: VCF ``pos`` is 1-based, MME ``start`` 0-based."""
    record = _object(data, path)
    if not record:
        return None
    ref, alt, pos = record.get("ref"), record.get("alt"), record.get("pos")
    if not (isinstance(ref, str) and isinstance(alt, str)) or not (
        _PLAIN_ALLELE.fullmatch(ref) and _PLAIN_ALLELE.fullmatch(alt)
    ):
        warnings.append(f"{path}: alleles {ref!r}>{alt!r} are not plain bases; variant left out")
        return None
    # proto3 JSON writes int64 as a string; anything else is left for the loader to reject.
    is_number = isinstance(pos, int | str) and str(pos).isdigit()
    return {
        "assembly": record.get("genomeAssembly"),
        "referenceName": record.get("chrom"),
        "start": int(str(pos)) - 1 if is_number else pos,
        "referenceBases": ref,
        "alternateBases": alt,
    }


def _object(value: object, path: str) -> Mapping[str, Any]:
    """``value`` as a JSON object; absent (None) reads as an empty one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidPatient(f"{path}: must be an object")
    return value


def _list(value: object, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPatient(f"{path}: must be a list")
    return value
