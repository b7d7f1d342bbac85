"""``GET /openapi.json``: the node's HTTP interface, described once, here.

A test checks that every route of the app is described and every described
operation exists, so the description cannot silently fall behind the code.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mme_node import __version__
from mme_node.api.matches import MAX_HISTORY_PAGE
from mme_node.api.patients import MAX_OFFSET
from mme_node.formats.consent import consent_openapi_schema
from mme_node.formats.schemas import patient_openapi_schema
from mme_node.model import DisclosureLevel
from mme_node.security.audit import AuditEvent
from mme_node.services.history import HISTORY_PAGE_SIZE
from mme_node.stores.database import MAX_ROWID

MME_MEDIA_TYPES = (
    "application/vnd.ga4gh.matchmaker.v1.0+json",
    "application/vnd.ga4gh.matchmaker.v1.1+json",
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], media_types: tuple[str, ...] = ("application/json",)) -> Any:
    return {"content": {media_type: {"schema": schema} for media_type in media_types}}


def _errors(*statuses: int, media_types: tuple[str, ...] = ("application/json",)) -> dict[str, Any]:
    reasons = {
        400: "malformed JSON or bad parameter",
        401: "missing or unknown X-Auth-Token",
        403: "the token's role may not call this endpoint",
        404: "no such patient",
        406: "unsupported MME API version",
        409: "stale version (If-Match), patient exists (If-None-Match: *) or conflict",
        413: "request body over the size limit",
        415: "wrong Content-Type",
        422: "invalid patient; the message names the field",
        429: "over a rate limit (failed authentications, /match; per token and per "
        "address); Retry-After says when to try again",
        503: "the store is not answering",
    }
    return {
        str(status): {
            "description": reasons[status],
            **_json(_ref("VersionError" if status == 406 else "Error"), media_types),
        }
        for status in statuses
    }


def _operation(
    summary: str,
    role: str,
    responses: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    error_media_types: tuple[str, ...] = ("application/json",),
) -> dict[str, Any]:
    """An operation needing a token: it may always answer 401, 403 and 429 too."""
    operation: dict[str, Any] = {
        "summary": summary,
        "description": f"Needs a `{role}` token in X-Auth-Token.",
        "security": [{"token": []}],
        "responses": _errors(401, 403, 429, media_types=error_media_types) | responses,
    }
    if body is not None:
        operation["requestBody"] = {"required": True} | body
    if parameters:
        operation["parameters"] = parameters
    return operation


PATIENT_ID = {"name": "patient_id", "in": "path", "required": True, "schema": {"type": "string"}}
OWNER = {"name": "owner", "in": "path", "required": True, "schema": {"type": "string"}}
OWNER_QUERY = {"name": "owner", "in": "query", "schema": {"type": "string"}}
PATIENT_ID_QUERY = {"name": "patientId", "in": "query", "schema": {"type": "string"}}
AUDIT_FILTERS = [
    {
        "name": "after",
        "in": "query",
        "description": "entries after this sequence number (the previous page's next)",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ROWID, "default": 0},
    },
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
    {
        "name": "since",
        "in": "query",
        "description": "entries at or after this ISO 8601 date or time (UTC unless given)",
        "schema": {"type": "string"},
    },
    {
        "name": "event",
        "in": "query",
        "schema": {"type": "string", "enum": [event.value for event in AuditEvent]},
    },
    OWNER_QUERY | {"description": "with patientId: only entries about that patient"},
    PATIENT_ID_QUERY | {"description": "with owner: only entries about that patient"},
]
PAGING = [
    {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    },
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
]
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "description": 'Replace only if the stored version is this one, e.g. "3".',
    "schema": {"type": "string", "pattern": '^(W/)?"?[0-9]{1,18}"?$'},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "description": "* creates the patient only if its id is free (409 if it exists); "
    "not with If-Match.",
    "schema": {"type": "string", "enum": ["*"]},
}

PATHS: dict[str, dict[str, Any]] = {
    "/heartbeat": {
        "get": _operation(
            "Is the node up, and which API versions does it speak",
            "peer",
            {"200": {"description": "heartbeat", **_json(_ref("Heartbeat"), MME_MEDIA_TYPES)}},
            error_media_types=MME_MEDIA_TYPES,
        )
    },
    "/match": {
        "post": _operation(
            "MME match request: the most similar patients of this node",
            "peer",
            {
                "200": {
                    "description": "ranked results",
                    **_json(_ref("MatchResponse"), MME_MEDIA_TYPES),
                },
                **_errors(400, 406, 413, 415, 422, media_types=MME_MEDIA_TYPES),
            },
            body=_json(_ref("MatchRequest"), MME_MEDIA_TYPES),
            error_media_types=MME_MEDIA_TYPES,
        )
    },
    "/metrics": {
        "get": _operation(
            "Aggregate counts (patients, genes, matches); no patient data",
            "peer",
            {"200": {"description": "metrics", **_json({"type": "object"}, MME_MEDIA_TYPES)}},
            error_media_types=MME_MEDIA_TYPES,
        )
    },
    "/api/patients": {
        "post": _operation(
            "Create (201) or replace (200) one of your patients",
            "submitter",
            {
                "200": {"description": "replaced", **_json(_ref("StoredPatient"))},
                "201": {"description": "created", **_json(_ref("StoredPatient"))},
                **_errors(400, 401, 403, 409, 413, 415, 422),
            },
            body=_json(_ref("Submission")),
            parameters=[IF_MATCH, IF_NONE_MATCH],
        ),
        "get": _operation(
            "Your patients, a page at a time, ordered by id",
            "submitter",
            {
                "200": {"description": "a page", **_json(_ref("PatientPage"))},
                **_errors(400, 401, 403),
            },
            parameters=PAGING,
        ),
    },
    "/api/patients/{patient_id}": {
        "get": _operation(
            "One of your patients",
            "submitter",
            {
                "200": {"description": "the patient", **_json(_ref("StoredPatient"))},
                **_errors(401, 403, 404),
            },
            parameters=[PATIENT_ID],
        ),
        "delete": _operation(
            "Erase one of your patients and everything that mentions it; the receipt lists "
            "who had been shown it",
            "submitter",
            {
                "200": {"description": "erased", **_json(_ref("ErasureReceipt"))},
                **_errors(401, 403, 404, 503),
            },
            parameters=[PATIENT_ID],
        ),
    },
    "/api/patients/{patient_id}/match": {
        "post": _operation(
            "Match one of your patients against this node's other patients, with explanations",
            "submitter",
            {
                "200": {"description": "ranked results", **_json(_ref("LocalMatchResults"))},
                **_errors(401, 403, 404),
            },
            parameters=[PATIENT_ID],
        )
    },
    "/api/patients/{patient_id}/match/external": {
        "post": _operation(
            "Send one of your patients to peer nodes (all enabled peers unless named)",
            "submitter",
            {
                "200": {"description": "each peer's outcome", **_json(_ref("PeerOutcomes"))},
                **_errors(400, 401, 403, 404, 413, 415),
            },
            parameters=[PATIENT_ID],
            body={"required": False, **_json(_ref("PeerSelection"))},
        )
    },
    "/api/patients/{patient_id}/matches": {
        "get": _operation(
            "The matches about one of your patients, newest first, a page at a time",
            "submitter",
            {
                "200": {
                    "description": "a page of the match history",
                    **_json(_ref("MatchHistory")),
                },
                **_errors(400, 401, 403, 404),
            },
            parameters=[
                PATIENT_ID,
                {
                    "name": "before",
                    "in": "query",
                    "description": "matches whose id is below this one (the previous page's "
                    "next); absent: the newest",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ROWID},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_HISTORY_PAGE,
                        "default": HISTORY_PAGE_SIZE,
                    },
                },
            ],
        )
    },
    "/api/notices": {
        "get": _operation(
            "Your notices (besides new matches), newest first, with how many are unseen",
            "submitter",
            {"200": {"description": "notices", **_json(_ref("Notices"))}, **_errors(400, 401, 403)},
            parameters=[
                {
                    "name": "unseen",
                    "in": "query",
                    "description": "only notices not marked as seen",
                    "schema": {"type": "string", "enum": ["true", "false"]},
                }
            ],
        )
    },
    "/api/notices/seen": {
        "post": _operation(
            "Mark some of your notices as seen (others' ids are ignored)",
            "submitter",
            {
                "200": {
                    "description": "how many were marked",
                    **_json({"type": "object", "properties": {"marked": {"type": "integer"}}}),
                },
                **_errors(400, 401, 403, 413, 415),
            },
            body=_json(
                {
                    "type": "object",
                    "properties": {
                        "ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 1000}
                    },
                    "required": ["ids"],
                }
            ),
        )
    },
    "/api/admin/hpo/releases": {
        "get": _operation(
            "The node's HPO release, every compiled release and the history of switches",
            "admin",
            {"200": {"description": "releases", **_json(_ref("Releases"))}, **_errors(401, 403)},
        )
    },
    "/api/admin/hpo/releases/{release}/activate": {
        "post": _operation(
            "Switch the node to a compiled HPO release (upgrade or rollback); answers with "
            "the switch's report once this node serves it",
            "admin",
            {
                "200": {"description": "the switch's report", **_json(_ref("ReleaseReport"))},
                "404": {
                    "description": "no compiled release of that version or key",
                    **_json(_ref("Error")),
                },
                "409": {
                    "description": "the release is already active, or another switch runs",
                    **_json(_ref("Error")),
                },
                **_errors(401, 403, 503),
            },
            parameters=[
                {
                    "name": "release",
                    "in": "path",
                    "required": True,
                    "description": "a version (2026-02-16) or a compiled release's key",
                    "schema": {"type": "string"},
                }
            ],
        )
    },
    "/api/admin/hpo/reports": {
        "get": _operation(
            "Summaries of the HPO release switches, newest first",
            "admin",
            {
                "200": {
                    "description": "summaries",
                    **_json(
                        {
                            "type": "object",
                            "properties": {
                                "reports": {"type": "array", "items": _ref("ReleaseReport")}
                            },
                        }
                    ),
                },
                **_errors(401, 403),
            },
        )
    },
    "/api/admin/hpo/reports/{seq}": {
        "get": _operation(
            "What one HPO release switch did: terms replaced, patients with unresolved terms by "
            "owner",
            "admin",
            {
                "200": {"description": "the report", **_json(_ref("ReleaseReport"))},
                "404": {"description": "no such switch", **_json(_ref("Error"))},
                **_errors(400, 401, 403),
            },
            parameters=[
                {
                    "name": "seq",
                    "in": "path",
                    "required": True,
                    "description": "the switch's number (history)",
                    "schema": {"type": "integer"},
                }
            ],
        )
    },
    "/api/admin/audit": {
        "get": _operation(
            "A page of the audit log, oldest first (filter by time, event or patient)",
            "admin",
            {
                "200": {"description": "entries", **_json(_ref("AuditPage"))},
                **_errors(400, 401, 403, 503),
            },
            parameters=AUDIT_FILTERS,
        )
    },
    "/api/admin/audit/verify": {
        "get": _operation(
            "Recompute the audit log's hash chain; name the first entry changed or removed",
            "admin",
            {
                "200": {"description": "the verdict", **_json(_ref("AuditVerification"))},
                **_errors(401, 403, 503),
            },
        )
    },
    "/api/admin/audit/shown": {
        "get": _operation(
            "Who was shown a patient (erased or not), from the audit log",
            "admin",
            {
                "200": {"description": "recipients", **_json(_ref("ShownTo"))},
                **_errors(400, 401, 403, 503),
            },
            parameters=[OWNER_QUERY | {"required": True}, PATIENT_ID_QUERY | {"required": True}],
        )
    },
    "/api/admin/patients/{owner}/{patient_id}": {
        "delete": _operation(
            "Erase any owner's patient and everything that mentions it",
            "admin",
            {
                "200": {"description": "erased", **_json(_ref("ErasureReceipt"))},
                **_errors(401, 403, 404, 503),
            },
            parameters=[OWNER, PATIENT_ID],
        )
    },
    "/api/admin/peers": {
        "get": _operation(
            "The peers and the sharing policy of each (never their tokens)",
            "admin",
            {
                "200": {
                    "description": "peers",
                    **_json(
                        {
                            "type": "object",
                            "properties": {"peers": {"type": "array", "items": _ref("PeerPolicy")}},
                        }
                    ),
                },
                **_errors(401, 403),
            },
        )
    },
    "/api/admin/peers/{name}/policy": {
        "put": _operation(
            "Set a peer's country and/or the most it may be shown (null: unknown, node default)",
            "admin",
            {
                "200": {"description": "the peer", **_json(_ref("PeerPolicy"))},
                "404": {"description": "no such peer", **_json(_ref("Error"))},
                **_errors(400, 401, 403, 413, 415),
            },
            parameters=[
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            body=_json(
                {
                    "type": "object",
                    "properties": {
                        "country": {"type": ["string", "null"], "pattern": "^[A-Z]{2}$"},
                        "maxDisclosure": {
                            "type": ["string", "null"],
                            "enum": [*(level.value for level in DisclosureLevel), None],
                        },
                    },
                    "additionalProperties": False,
                    "minProperties": 1,
                }
            ),
        )
    },
    "/health": {
        "get": {
            "summary": "Liveness, no token: 200 when the node and its store answer, else 503",
            "responses": {
                "200": {"description": "the node is up"},
                "503": {"description": "the store does not answer"},
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This description",
            "responses": {"200": {"description": "OpenAPI 3.1 document"}},
        }
    },
    "/": {
        "get": {
            "summary": "The clinicians' web app: a redirect to /app/ (HTML pages, not this API)",
            "responses": {"307": {"description": "redirect to the web app at /app/"}},
        }
    },
}


def _components() -> dict[str, Any]:
    stored_patient = {
        "type": "object",
        "properties": {
            "patient": _ref("Patient"),
            "consent": _ref("Consent"),
            "version": {"type": "integer", "minimum": 1},
            "hpoRelease": {"type": "string"},
            "created": {"type": "string", "format": "date-time"},
            "updated": {"type": "string", "format": "date-time"},
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["patient", "consent", "version", "hpoRelease"],
    }
    return {
        "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
        "schemas": {
            "Patient": patient_openapi_schema(),
            "Consent": consent_openapi_schema(),
            "Submission": {
                "type": "object",
                "description": "A patient and its consent (none: the node's default consent).",
                "properties": {
                    "patient": _ref("Patient"),
                    "consent": _ref("Consent"),
                    "disclaimer": {"type": "string"},
                    "terms": {"type": "string"},
                },
                "required": ["patient"],
                "patternProperties": {"^_": {}},
                "additionalProperties": False,
            },
            "Notices": {
                "type": "object",
                "properties": {
                    "notices": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "integer"},
                                "kind": {"type": "string"},
                                "patientId": {"type": ["string", "null"]},
                                "created": {"type": "string", "format": "date-time"},
                                "message": {"type": "string"},
                                "details": {"type": "object"},
                                "seen": {"type": ["string", "null"], "format": "date-time"},
                            },
                        },
                    },
                    "unseen": {"type": "integer"},
                },
            },
            "Releases": {
                "type": "object",
                "properties": {
                    "active": {"type": "object", "description": "the node's release"},
                    "serving": {"type": "string", "description": "the release this process uses"},
                    "compiled": {"type": "array", "items": {"type": "object"}},
                    "history": {"type": "array", "items": {"type": "object"}},
                },
            },
            "ReleaseReport": {
                "type": "object",
                "description": "What a release switch did to the stored patients (docs/hpo.md).",
                "properties": {
                    "seq": {"type": ["integer", "null"]},
                    "from": {"type": "object"},
                    "to": {"type": "object"},
                    "patients": {"type": "integer"},
                    "patientsChanged": {"type": "integer"},
                    "patientsWithUnresolvedTerms": {"type": "integer"},
                    "replacedTerms": {"type": "array", "items": {"type": "object"}},
                    "activatedTerms": {"type": "array", "items": {"type": "object"}},
                    "unresolvedTerms": {"type": "array", "items": {"type": "object"}},
                    "unresolvedByOwner": {"type": "object"},
                    "changedPatients": {"type": "array", "items": {"type": "object"}},
                },
            },
            "MatchRequest": {
                "type": "object",
                "properties": {"patient": _ref("Patient")},
                "required": ["patient"],
            },
            "MatchResponse": {
                "type": "object",
                "properties": {
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "score": {
                                    "type": "object",
                                    "properties": {
                                        "patient": {"type": "number", "minimum": 0, "maximum": 1}
                                    },
                                },
                                "patient": _ref("Patient"),
                            },
                        },
                    },
                    "disclaimer": {"type": "string"},
                    "terms": {"type": "string"},
                },
                "required": ["results"],
            },
            "LocalMatchResults": {
                "type": "object",
                "properties": {"results": {"type": "array", "items": _ref("LocalMatchResult")}},
                "required": ["results"],
            },
            "LocalMatchResult": _local_match_result(),
            "PeerSelection": {
                "type": "object",
                "properties": {
                    "peers": {
                        "type": ["array", "null"],
                        "items": {"type": "string"},
                        "description": "Peer names; absent or null: every enabled peer.",
                    }
                },
            },
            "PeerOutcomes": {
                "type": "object",
                "properties": {"peers": {"type": "array", "items": _peer_outcome()}},
                "required": ["peers"],
            },
            "MatchHistory": {
                "type": "object",
                "properties": {
                    "matches": {
                        "type": "array",
                        "items": _recorded_match(),
                        "description": "newest first",
                    },
                    "next": {
                        "type": ["integer", "null"],
                        "description": "the before of the next, older page; null on the last",
                    },
                },
                "required": ["matches", "next"],
            },
            "Heartbeat": {"type": "object", "properties": {"heartbeat": {"type": "object"}}},
            "StoredPatient": stored_patient,
            "PatientPage": {
                "type": "object",
                "properties": {
                    "total": {"type": "integer"},
                    "offset": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "patients": {"type": "array", "items": _ref("StoredPatient")},
                },
            },
            "ErasureReceipt": _erasure_receipt(),
            "ShownTo": {
                "type": "object",
                "properties": {
                    "auditSubject": {"type": "string"},
                    "shownTo": {"type": "array", "items": _exposure()},
                },
            },
            "AuditPage": {
                "type": "object",
                "properties": {
                    "entries": {"type": "array", "items": _audit_entry()},
                    "next": {
                        "type": ["integer", "null"],
                        "description": "the after of the next page; null on the last",
                    },
                },
                "required": ["entries", "next"],
            },
            "AuditVerification": {
                "type": "object",
                "properties": {
                    "ok": {"type": "boolean"},
                    "entries": {"type": "integer"},
                    "head": {
                        "type": "object",
                        "properties": {"seq": {"type": "integer"}, "hash": {"type": "string"}},
                    },
                    "problem": {"type": ["string", "null"]},
                    "firstBad": {"type": ["integer", "null"]},
                },
                "required": ["ok", "entries", "head"],
            },
            "PeerPolicy": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "url": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "apiVersion": {"type": "string"},
                    "country": {"type": ["string", "null"]},
                    "maxDisclosure": {"type": ["string", "null"]},
                    "effectiveMaxDisclosure": {"type": "string"},
                    "inboundTokenName": {"type": ["string", "null"]},
                },
            },
            "Error": {
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"],
            },
            "VersionError": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "supportedVersions": {
                        "type": "array",
                        "items": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$"},
                        "description": "the versions this node speaks, as in 1.0",
                    },
                },
                "required": ["message", "supportedVersions"],
            },
        },
    }


def _unit_score(*parts: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {part: {"type": "number", "minimum": 0, "maximum": 1} for part in parts},
        "required": ["patient"],
    }


def _local_match_result() -> dict[str, Any]:
    term = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "label": {"type": "string"},
            "observed": {"type": "boolean", "description": "false for an excluded term"},
        },
    }
    term_match = {
        "type": "object",
        "properties": {
            "queryTerm": term,
            "candidateTerm": term,
            "commonAncestor": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "label": {"type": "string"},
                    "informationContent": {"type": "number", "minimum": 0},
                },
            },
        },
    }
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "properties": {
            "score": _unit_score("patient", "phenotype", "genotype"),
            "patient": _ref("Patient"),
            "disclosure": {
                "type": "string",
                "enum": [level.value for level in DisclosureLevel],
                "description": "how much of the patient is shown (another owner's: its consent)",
            },
            "explanation": {
                "type": ["object", "null"],
                "properties": {
                    "sharedGenes": strings,
                    "sharedVariants": strings,
                    "sharedDisorders": strings,
                    "conflictingTerms": strings,
                    "sharedExcludedTerms": strings,
                    "termMatches": {"type": "array", "items": term_match},
                },
            },
        },
        "required": ["score", "patient"],
    }


def _peer_outcome() -> dict[str, Any]:
    error = {
        "type": ["object", "null"],
        "properties": {
            "kind": {"type": "string"},
            "message": {"type": "string"},
            "status": {"type": ["integer", "null"]},
        },
    }
    result = {
        "type": "object",
        "properties": {"score": _unit_score("patient"), "patient": {"type": "object"}},
    }
    return {
        "type": "object",
        "properties": {
            "peer": {"type": "string"},
            "results": {"type": "array", "items": result},
            "error": error,
            "elapsedMs": {"type": "number"},
        },
        "required": ["peer", "results", "error"],
    }


def _exposure() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "one recipient (a peer, or local:<submitter>) shown the patient",
        "properties": {
            "recipient": {"type": "string"},
            "first": {"type": "string", "format": "date-time"},
            "last": {"type": "string", "format": "date-time"},
            "times": {"type": "integer"},
            "levels": {"type": "array", "items": {"type": "string"}},
        },
    }


def _erasure_receipt() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "owner": {"type": "string"},
            "patientId": {"type": "string"},
            "erasedAt": {"type": "string", "format": "date-time"},
            "auditSubject": {"type": "string", "description": "how the audit log names it"},
            "historyRowsErased": {"type": "integer"},
            "shownTo": {"type": "array", "items": _exposure()},
            "storageWiped": {
                "type": "boolean",
                "description": "false: the write-ahead log was busy; the next checkpoint wipes it",
            },
        },
        "required": ["owner", "patientId", "erasedAt", "shownTo", "storageWiped"],
    }


def _audit_entry() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "seq": {"type": "integer"},
            "hash": text,
            "event": {"type": "string", "enum": [event.value for event in AuditEvent]},
            "time": {"type": "string", "format": "date-time"},
            "actor": text,
            "recipient": text,
            "subject": text,
            "pseudonym": text,
            "level": text,
            "score": {"type": "number"},
            "test": {"type": "boolean"},
            "details": {"type": "object"},
        },
        "required": ["seq", "hash", "event", "time"],
    }


def _recorded_match() -> dict[str, Any]:
    levels = [level.value for level in DisclosureLevel]
    result = {
        "type": "object",
        "properties": {
            "score": {"type": "number"},
            "patientId": {"type": "string"},
            "local": {"type": "boolean", "description": "a patient of this node"},
            "new": {"type": "boolean", "description": "not in an earlier match of the query"},
            "shownAs": {
                "type": "string",
                "description": "one of our patients: the pseudonym the recipient was shown",
            },
            "disclosure": {
                "type": "string",
                "enum": levels,
                "description": "one of our patients: the level the recipient was shown",
            },
        },
    }
    return {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "description": "the match id, a cursor for before"},
            "direction": {"type": "string", "enum": ["inbound", "outbound", "local"]},
            "peer": {"type": "string"},
            "created": {"type": "string", "format": "date-time"},
            "queryPatientId": {"type": "string"},
            "test": {"type": "boolean"},
            "shownAs": {
                "type": ["string", "null"],
                "description": "outbound: the pseudonym our patient was sent under",
            },
            "disclosure": {
                "type": ["string", "null"],
                "enum": [*levels, None],
                "description": "outbound: the level our patient was sent at",
            },
            "status": {"type": ["integer", "null"]},
            "error": {
                "type": ["object", "null"],
                "properties": {"kind": {"type": "string"}, "message": {"type": "string"}},
            },
            "results": {"type": "array", "items": result},
            "queryContact": {
                "type": ["object", "null"],
                "description": "inbound: the contact of the peer's query patient (who asked)",
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mme-node",
            "version": __version__,
            "description": "A Matchmaker Exchange node (ga4gh mme-apis search-api v1.0/v1.1).",
        },
        "paths": PATHS,
        "components": _components(),
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


ROUTES = [Route("/openapi.json", openapi, methods=["GET"])]
