"""A JSON Schema (draft 2020-12) of the MME API, written from the specification for the tests.

Sources: ga4gh/mme-apis ``search-api.md`` (patient, match request, match
response, error, versioning), ``heartbeat-api.md`` and ``metrics-api.md``.
It is written independently of ``mme_node.formats.schemas`` so that it can
catch that module's mistakes, and it is strict where the specification is:

* every object refuses fields the specification does not name, except
  non-standard ones starting with ``_`` (search-api "Non-Standard Fields");
* v1.0 contacts have no ``email`` or ``roles`` ("since v1.1"); the labels of
  features and disorders ("since v1.1") are allowed in v1.0 because v1.0
  nodes and the MME benchmark data carry them;

and it adds the two rules of the schema the deployed nodes validate with
(the MME reference server's, shared by patientMatcher): ``referenceName`` is
``1``-``22``, ``X``, ``Y`` or ``M`` (not ``MT``), and disorder ids are
``MIM:`` or ``Orphanet:`` with at most six digits.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

HPO_ID = {"type": "string", "pattern": r"^HP:\d{7}$"}
TEXT_255 = {"type": "string", "minLength": 1, "maxLength": 255}
NON_STANDARD = {"^_[A-Za-z0-9_-]*$": {}}


def strict_object(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    """An object of exactly these fields, plus non-standard ``_`` ones."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "patternProperties": NON_STANDARD,
        "additionalProperties": False,
    }


def contact_schema(version: str) -> Schema:
    properties: Schema = {
        "name": TEXT_255,
        "institution": TEXT_255,
        # "a valid URL (of the form <scheme>:<address>)"
        "href": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$"},
    }
    if version != "1.0":
        properties["email"] = {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"}
        properties["roles"] = {
            "type": "array",
            "items": {"enum": ["clinician", "researcher", "patient"]},
        }
    return strict_object(properties, ("name", "href"))


def patient_schema(version: str) -> Schema:
    disorder = strict_object(
        {
            "id": {"type": "string", "pattern": r"^(MIM|Orphanet):\d{1,6}$"},
            "label": {"type": "string"},
        },
        ("id",),
    )
    feature = strict_object(
        {
            "id": HPO_ID,
            "label": {"type": "string"},
            "observed": {"enum": ["yes", "no"]},
            "ageOfOnset": HPO_ID,
        },
        ("id",),
    )
    bases = {"type": "string", "pattern": "^[ACGTN]+$"}
    variant = strict_object(
        {
            "assembly": {"type": "string", "pattern": r"^(NCBI36|GRCh37|GRCh38)(\.p\d+)?$"},
            "referenceName": {"type": "string", "pattern": r"^([1-9]|1\d|2[0-2]|X|Y|M)$"},
            "start": {"type": "integer", "minimum": 0},
            "end": {"type": "integer", "minimum": 0},
            "referenceBases": bases,
            "alternateBases": bases,
        },
        ("assembly", "referenceName", "start"),
    )
    genomic_feature = strict_object(
        {
            "gene": strict_object({"id": {"type": "string", "minLength": 1}}, ("id",)),
            "variant": variant,
            "zygosity": {"enum": [1, 2]},
            "type": strict_object(
                {"id": {"type": "string", "pattern": r"^SO:\d{7}$"}, "label": {"type": "string"}},
                ("id",),
            ),
        },
        ("gene",),
    )
    patient = strict_object(
        {
            "id": TEXT_255,
            "label": TEXT_255,
            "contact": contact_schema(version),
            "species": {"type": "string", "pattern": r"^NCBITaxon:\d+$"},
            "sex": {"enum": ["FEMALE", "MALE", "OTHER", "MIXED_SAMPLE", "NOT_APPLICABLE"]},
            "ageOfOnset": HPO_ID,
            "inheritanceMode": HPO_ID,
            "disorders": {"type": "array", "items": disorder},
            "features": {"type": "array", "items": feature},
            "genomicFeatures": {"type": "array", "items": genomic_feature},
            "test": {"type": "boolean"},
        },
        ("id", "contact"),
    )
    # "It is mandatory to have at least one of these two: features, genomicFeatures"
    patient["anyOf"] = [
        {"required": ["features"], "properties": {"features": {"minItems": 1}}},
        {"required": ["genomicFeatures"], "properties": {"genomicFeatures": {"minItems": 1}}},
    ]
    return patient


def match_request_schema(version: str) -> Schema:
    return strict_object(
        {
            "patient": patient_schema(version),
            "disclaimer": {"type": "string"},
            "terms": {"type": "string"},
        },
        ("patient",),
    )


def match_response_schema(version: str) -> Schema:
    result = strict_object(
        {
            "score": strict_object(
                {"patient": {"type": "number", "minimum": 0, "maximum": 1}}, ("patient",)
            ),
            "patient": patient_schema(version),
        },
        ("score", "patient"),
    )
    return strict_object(
        {
            "results": {"type": "array", "items": result},
            "disclaimer": {"type": "string"},
            "terms": {"type": "string"},
        },
        ("results",),
    )


ERROR_SCHEMA: Schema = {
    "type": "object",
    "properties": {"message": {"type": "string", "minLength": 1}},
    "required": ["message"],
}
"""search-api "Error handling": a human-readable message; other fields may be added."""

VERSION_ERROR_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "minLength": 1},
        "supportedVersions": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": r"^\d+\.\d+$"},
        },
    },
    "required": ["message", "supportedVersions"],
}
"""search-api "Error handling": a 406 names the supported versions (``["0.1", "1.0", "1.1"]``)."""

HEARTBEAT_SCHEMA: Schema = strict_object(
    {
        "heartbeat": strict_object(
            {
                "production": {"type": "boolean"},
                "version": {"type": "string", "minLength": 1},
                "accept": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "string",
                        "pattern": r"^application/vnd\.ga4gh\.matchmaker\.v\d+\.\d+\+json$",
                    },
                },
            },
            ("production", "version", "accept"),
        ),
        "disclaimer": {"type": "string"},
    },
    ("heartbeat",),
)

_COUNT = {"type": "integer", "minimum": 0}
METRICS_SCHEMA: Schema = strict_object(
    {
        "metrics": strict_object(
            {
                name: _COUNT
                for name in (
                    "numberOfCases",
                    "numberOfSubmitters",
                    "numberOfGenes",
                    "numberOfUniqueGenes",
                    "numberOfVariants",
                    "numberOfUniqueVariants",
                    "numberOfFeatures",
                    "numberOfUniqueFeatures",
                    "numberOfFeatureSets",
                    "numberOfUniqueGenesMatched",
                    "numberOfCasesWithDiagnosis",
                    "numberOfRequestsReceived",
                    "numberOfPotentialMatchesSent",
                )
            }
            | {"dateGenerated": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}"}}
        ),
        "disclaimer": {"type": "string"},
    },
    ("metrics",),
)
