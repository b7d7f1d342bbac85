"""What the Elasticsearch store writes: index names, the mapping, one document per patient.

Pure data, no client: the store sends these dicts, and the wiring tests compare
them with golden files. One index holds the patients of one HPO release (their
ancestor closures depend on it); two aliases, ``{prefix}-read`` and
``{prefix}-write``, point at the index in use so that a new release can be
built beside the old one and swapped in atomically.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mme_node.model import Consent, Gene, Patient, PatientRecord
from mme_node.security.consent import Audience, reach_of
from mme_node.stores.codec import encode_record

Document = dict[str, Any]

SCHEMA_VERSION = 1
"""Bumped when the mapping changes; an index of another version must be rebuilt."""

GENE_NAMESPACES = ("hgnc_id", "symbol", "ensembl_id", "entrez_id")
"""The gene identifier namespaces indexed under ``genes.*``."""

_KEYWORD = {"type": "keyword"}

MAPPING: Document = {
    "dynamic": "strict",
    "_meta": {"schema_version": SCHEMA_VERSION},
    "properties": {
        "owner": _KEYWORD,
        "patient_id": _KEYWORD,
        "test": {"type": "boolean"},
        "observed_terms": _KEYWORD,
        "excluded_terms": _KEYWORD,
        # Boolean similarity scores a matching term exactly at its query boost,
        # so a query boosting each term by its information content scores a
        # candidate by the summed IC of the ancestors both patients share.
        "phenotype_closure": {"type": "keyword", "similarity": "boolean"},
        "genes": {
            "properties": {namespace: _KEYWORD for namespace in GENE_NAMESPACES},
        },
        "variants": _KEYWORD,
        "hpo_release": _KEYWORD,
        # Which peers the patient's consent reaches (see reach_tags), so that
        # candidate searches for a peer leave out the patients it may not see.
        "reach": _KEYWORD,
        "version": {"type": "integer"},
        "created": {"type": "date"},
        "updated": {"type": "date"},
        # The whole record as codec JSON: kept in _source, never parsed or
        # indexed (a disabled object accepts a string of any length).
        "record": {"type": "object", "enabled": False},
    },
}

SETTINGS: Document = {
    # Most of the bytes are the stored record; DEFLATE roughly halves them.
    "index": {"codec": "best_compression"},
}

_INVALID_NAME_CHARACTERS = re.compile(r"[^a-z0-9._-]+")
_PREFIX = re.compile(r"[a-z0-9][a-z0-9._-]*")
_ALIAS_SUFFIXES = ("read", "write")


class TermWeights(Protocol):
    """Information content of HPO terms, as the matching layer computes it."""

    def closure(self, term_ids: Sequence[str]) -> dict[str, float]:
        """Every term of ``term_ids`` and all their ancestors, each with its IC.

        Unknown ids are left out; the IC of the root is 0.
        """
        ...


class ObservedTermsOnly:
    """Weights for a store without an ontology: each observed term alone, weight 1.

    Candidates then share exact terms only; used by tests and tools that read
    and write patients without matching.
    """

    def closure(self, term_ids: Sequence[str]) -> dict[str, float]:
        return dict.fromkeys(term_ids, 1.0)


@dataclass(frozen=True, slots=True)
class IndexNames:
    """The names of the store's aliases and of the index of each HPO release."""

    prefix: str

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(
                f"index prefix {self.prefix!r} must be lower case letters, digits, '.', '_' "
                "or '-', starting with a letter or digit"
            )

    @property
    def read_alias(self) -> str:
        return f"{self.prefix}-read"

    @property
    def write_alias(self) -> str:
        return f"{self.prefix}-write"

    def index(self, hpo_release: str) -> str:
        """The index of ``hpo_release``: the release lower-cased, odd characters as '-'."""
        release = _INVALID_NAME_CHARACTERS.sub("-", hpo_release.lower()).strip("-.")
        if not release or release in _ALIAS_SUFFIXES:
            raise ValueError(f"HPO release {hpo_release!r} cannot name an index")
        return f"{self.prefix}-{release}"


def index_body(names: IndexNames, hpo_release: str) -> Document:
    """The body of the create-index request of ``hpo_release``, aliases included."""
    return {
        "settings": SETTINGS,
        "mappings": {**MAPPING, "_meta": {**MAPPING["_meta"], "hpo_release": hpo_release}},
        "aliases": {names.read_alias: {}, names.write_alias: {"is_write_index": True}},
    }


def document_id(owner: str, patient_id: str) -> str:
    """A fixed-length id for ``(owner, patient_id)``, safe whatever characters they hold."""
    key = json.dumps([owner, patient_id], ensure_ascii=True)
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def clinical_picture(patient: Patient) -> list[str]:
    """Observed and excluded terms: what a patient was examined for, found or not.

    Candidates are retrieved by the closure of both, because the default
    phenotype model compares them (see ``mme_node/matching/phenotype.py``).
    """
    return list(dict.fromkeys([*patient.observed_terms, *patient.excluded_terms]))


def patient_document(record: PatientRecord, weights: TermWeights) -> Document:
    """The indexed form of ``record``; ``record`` itself is kept whole in ``record``.

    Raises ``CodecError`` when the record cannot be encoded.
    """
    patient = record.patient
    document: Document = {
        "owner": record.owner,
        "patient_id": patient.id,
        "test": patient.test,
        "observed_terms": list(patient.observed_terms),
        "excluded_terms": list(patient.excluded_terms),
        "phenotype_closure": sorted(weights.closure(clinical_picture(patient))),
        "genes": gene_identifiers(patient),
        "variants": list(patient.variant_keys),
        "hpo_release": record.hpo_release,
        "reach": reach_tags(record.consent),
        "version": record.version,
        "record": encode_record(record),
    }
    if record.created is not None:
        document["created"] = record.created.isoformat()
    if record.updated is not None:
        document["updated"] = record.updated.isoformat()
    return document


ADDED_FIELDS: Document = {"reach": MAPPING["properties"]["reach"]}
"""Fields added to the mapping since the first release: an older index is given them."""

_DEFAULT_REACH = "default"
_EVERY_PEER = "any"
_NO_PEER = "none"


def reach_tags(consent: Consent | None) -> list[str]:
    """The ``reach`` of a patient with ``consent``: whom its own consent lets see it.

    ``default`` without a consent of its own (what the node's default consent
    allows is decided at search time, so changing that setting needs no
    reindexing); ``none`` for no peer; ``any`` for every peer; otherwise
    ``country:XX`` for each country reached. DUO restrictions are applied.
    """
    if consent is None:
        return [_DEFAULT_REACH]
    reach = reach_of(consent)
    if not reach.peers:
        return [_NO_PEER]
    if reach.countries is None:
        return [_EVERY_PEER]
    return sorted(f"country:{country}" for country in reach.countries)


def audience_tags(audience: Audience) -> list[str]:
    """The ``reach`` tags of the patients ``audience`` may be shown: a document needs one."""
    tags = [_EVERY_PEER]
    if audience.scope.country is not None:
        tags.append(f"country:{audience.scope.country}")
    if audience.scope.reaches(audience.default_reach):
        tags.append(_DEFAULT_REACH)
    return tags


def gene_identifiers(patient: Patient) -> dict[str, list[str]]:
    """The patient's genes by namespace, normalised for exact comparison.

    A gene normalisation could not resolve contributes its submitted id to
    every namespace, so it still meets a resolved gene named the same way.
    """
    found: dict[str, dict[str, None]] = {namespace: {} for namespace in GENE_NAMESPACES}
    for genomic_feature in patient.genomic_features:
        for namespace, value in _gene_keys(genomic_feature.gene):
            found[namespace][value] = None
    return {namespace: list(values) for namespace, values in found.items()}


def _gene_keys(gene: Gene) -> list[tuple[str, str]]:
    if gene.hgnc_id is None:
        submitted = _normalise_gene_key(gene.id)
        return [(namespace, submitted) for namespace in GENE_NAMESPACES] if submitted else []
    values = (gene.hgnc_id, gene.symbol, gene.ensembl_id, gene.entrez_id)
    return [
        (namespace, _normalise_gene_key(value))
        for namespace, value in zip(GENE_NAMESPACES, values, strict=True)
        if value
    ]


def _normalise_gene_key(value: str) -> str:
    """Upper case, no Ensembl version suffix (``ENSG00000139618.17`` -> ``ENSG00000139618``)."""
    key = value.strip().upper()
    if key.startswith("ENSG"):
        key = key.partition(".")[0]
    return key
