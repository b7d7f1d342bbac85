"""Submitter endpoints about matches of one of your patients.

``POST /api/patients/{id}/match`` matches it against this node (with
explanations), ``POST /api/patients/{id}/match/external`` sends it to peer
nodes, and ``GET /api/patients/{id}/matches`` shows the history.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mme_node.api.auth import authenticate
from mme_node.api.bodies import check_media_type, parse_json, read_body
from mme_node.api.patients import JSON_MEDIA_TYPES, int_parameter
from mme_node.errors import InvalidRequest
from mme_node.formats.schemas import ContactSchema, dump_patient
from mme_node.node import Node
from mme_node.peers import PeerOutcome
from mme_node.security import Role
from mme_node.security.disclosure import Disclosure
from mme_node.services.history import HISTORY_PAGE_SIZE, RecordedMatch, RecordedResult
from mme_node.stores.database import MAX_ROWID

MAX_HISTORY_PAGE = 200
"""The most matches one page of a history may hold (``limit``)."""


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def result_json(shown: Disclosure) -> dict[str, Any]:
    """A local match result for a submitter: score parts, the patient and why it matched.

    Another owner's patient is shown as its consent allows, under a
    pseudonym, and its explanation says no more than the patient may.
    """
    result = shown.result
    explanation = shown.explanation
    return {
        "score": {
            "patient": round(result.score, 6),
            "phenotype": round(result.phenotype_score, 6),
            "genotype": round(result.genotype_score, 6),
        },
        "patient": dump_patient(shown.patient),
        "disclosure": shown.level.value,
        "explanation": None
        if explanation is None
        else {
            "sharedGenes": list(explanation.shared_genes),
            "sharedVariants": list(explanation.shared_variants),
            "sharedDisorders": list(explanation.shared_disorders),
            "conflictingTerms": list(explanation.conflicting_terms),
            "sharedExcludedTerms": list(explanation.shared_excluded_terms),
            "termMatches": [
                {
                    "queryTerm": {
                        "id": m.query_term,
                        "label": m.query_label,
                        "observed": m.query_observed,
                    },
                    "candidateTerm": {
                        "id": m.candidate_term,
                        "label": m.candidate_label,
                        "observed": m.candidate_observed,
                    },
                    "commonAncestor": {
                        "id": m.common_ancestor,
                        "label": m.common_ancestor_label,
                        "informationContent": m.information_content,
                    },
                }
                for m in explanation.term_matches
            ],
        },
    }


def outcome_json(outcome: PeerOutcome) -> dict[str, Any]:
    return {
        "peer": outcome.peer,
        "results": [
            {"score": {"patient": m.score}, "patient": m.raw.get("patient")}
            for m in outcome.results
        ],
        "error": None if outcome.error is None else asdict(outcome.error),
        "elapsedMs": round(outcome.elapsed_ms, 1),
    }


def recorded_json(match: RecordedMatch) -> dict[str, Any]:
    return {
        "id": match.id,
        "direction": match.direction,
        "peer": match.peer,
        "created": match.created.isoformat(),
        "queryPatientId": match.query_patient_id,
        "test": match.test,
        "shownAs": match.shown_as,
        "disclosure": match.disclosure,
        "status": match.status,
        "error": None
        if match.error_kind is None
        else {"kind": match.error_kind, "message": match.error_message},
        "results": [recorded_result_json(r) for r in match.results],
        "queryContact": None
        if match.query_contact is None
        else ContactSchema().dump(match.query_contact),
    }


def recorded_result_json(result: RecordedResult) -> dict[str, Any]:
    """One stored result; another node's patient comes with its JSON as received.

    That JSON holds the remote contact, which the submitter needs long after
    the notification email that named it.
    """
    shown: dict[str, Any] = {
        "score": result.score,
        "patientId": result.patient_id,
        "local": result.owner is not None,
        "new": result.new,
    }
    if result.shown_as is not None:
        # One of our patients shown to someone: the id they saw, and how much.
        shown["shownAs"] = result.shown_as
        shown["disclosure"] = result.disclosure
    if result.patient_json is not None:
        shown["patient"] = json.loads(result.patient_json)
    return shown


async def match_locally(request: Request) -> Response:
    client = authenticate(request, Role.SUBMITTER, Role.ADMIN)
    results = await _node(request).matches.local(client.name, request.path_params["patient_id"])
    return JSONResponse({"results": [result_json(r) for r in results]})


async def match_externally(request: Request) -> Response:
    client = authenticate(request, Role.SUBMITTER, Role.ADMIN)
    node = _node(request)
    peers = await _peer_names(request, node)
    outcomes = await node.matches.external(client.name, request.path_params["patient_id"], peers)
    return JSONResponse({"peers": [outcome_json(o) for o in outcomes]})


async def match_history(request: Request) -> Response:
    """A page of the patient's matches, newest first; ``next`` is the ``before`` of the next."""
    client = authenticate(request, Role.SUBMITTER, Role.ADMIN)
    node = _node(request)
    patient_id = request.path_params["patient_id"]
    before = None  # the newest page
    if "before" in request.query_params:
        before = int_parameter(request, "before", 0, minimum=1, maximum=MAX_ROWID)
    limit = int_parameter(request, "limit", HISTORY_PAGE_SIZE, minimum=1, maximum=MAX_HISTORY_PAGE)
    await node.patients.get(client.name, patient_id)  # 404 for someone else's patient
    page = await node.history.history_page(client.name, patient_id, before, limit)
    return JSONResponse(
        {"matches": [recorded_json(m) for m in page.matches], "next": page.next_before}
    )


async def _peer_names(request: Request, node: Node) -> list[str] | None:
    """The optional ``{"peers": [...]}`` body; no body means every enabled peer.

    Read under the same size cap as every other body before anything else.
    """
    raw = await read_body(request, node.settings.max_body_bytes)
    if not raw.strip():
        return None
    check_media_type(request, JSON_MEDIA_TYPES)
    body = parse_json(raw)
    peers = body.get("peers") if isinstance(body, dict) else None
    if peers is None:
        return None
    if not isinstance(peers, list) or not all(isinstance(p, str) for p in peers):
        raise InvalidRequest('"peers" must be a list of peer names')
    return peers


ROUTES = [
    Route("/api/patients/{patient_id}/match", match_locally, methods=["POST"]),
    Route("/api/patients/{patient_id}/match/external", match_externally, methods=["POST"]),
    Route("/api/patients/{patient_id}/matches", match_history, methods=["GET"]),
]
