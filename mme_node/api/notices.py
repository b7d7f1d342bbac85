"""Submitter endpoints for owner notices: ``GET /api/notices``, ``POST /api/notices/seen``.

A notice tells a submitter something about its patients besides new matches
(for example terms a new HPO release could not carry over); see
:mod:`mme_node.services.notices`. Each submitter sees its own notices only.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mme_node.api.auth import authenticate
from mme_node.api.bodies import read_json
from mme_node.errors import InvalidRequest
from mme_node.node import Node
from mme_node.security.tokens import Role
from mme_node.services.notices import Notice

JSON_MEDIA_TYPES = frozenset({"application/json"})
MAX_IDS = 1000


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def list_notices(request: Request) -> Response:
    client = authenticate(request, Role.SUBMITTER, Role.ADMIN)
    unseen = request.query_params.get("unseen", "false").lower()
    if unseen not in ("true", "false"):
        raise InvalidRequest(f"query parameter unseen must be true or false, not {unseen!r}")
    notices = _node(request).notices
    found = await notices.for_owner(client.name, unseen_only=unseen == "true")
    return JSONResponse(
        {
            "notices": [notice_json(notice) for notice in found],
            "unseen": await notices.unseen_count(client.name),
        }
    )


async def mark_seen(request: Request) -> Response:
    client = authenticate(request, Role.SUBMITTER, Role.ADMIN)
    node = _node(request)
    body = await read_json(request, node.settings.max_body_bytes, JSON_MEDIA_TYPES)
    ids = body.get("ids") if isinstance(body, dict) else None
    if (
        not isinstance(ids, list)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        or len(ids) > MAX_IDS
    ):
        raise InvalidRequest(f"ids: must be a list of at most {MAX_IDS} notice ids (integers)")
    return JSONResponse({"marked": await node.notices.mark_seen(client.name, ids)})


def notice_json(notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "kind": notice.kind,
        "patientId": notice.patient_id,
        "created": notice.created.isoformat() if notice.created else None,
        "message": notice.message,
        "details": notice.details,
        "seen": notice.seen_at.isoformat() if notice.seen_at else None,
    }


ROUTES = [
    Route("/api/notices", list_notices, methods=["GET"]),
    Route("/api/notices/seen", mark_seen, methods=["POST"]),
]
