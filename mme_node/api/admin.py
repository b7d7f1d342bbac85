"""Administrator endpoints under ``/api/admin/...`` (an ``admin`` token).

HPO releases: list the compiled releases and the node's switches, activate one
(an upgrade or a rollback) and read what each switch did to the patients.
Loading new release files is done on the node's machine with ``mme-node hpo
load`` (the files are there); activating through the API then works for every
release the node has compiled.

Governance (docs/governance.md): read and verify the audit log, ask who was
shown a patient, erase any owner's patient, and read or set each peer's
sharing policy. Every change made here is written to the audit log with the
admin's client name as its actor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hpo import ReleaseInfo
from mme_node.api.auth import authenticate
from mme_node.api.bodies import read_json
from mme_node.api.patients import JSON_MEDIA_TYPES, int_parameter, receipt_json
from mme_node.errors import InvalidRequest
from mme_node.model import DisclosureLevel
from mme_node.node import Node
from mme_node.peers import Peer
from mme_node.security.audit import AuditEvent, Exposure, StoredEntry, peer_changed
from mme_node.security.tokens import Role
from mme_node.stores.changes import ReleaseChange
from mme_node.stores.database import MAX_ROWID

MAX_AUDIT_PAGE = 1000


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def list_releases(request: Request) -> Response:
    authenticate(request, Role.ADMIN)
    node = _node(request)
    active = await node.releases.active_info()
    compiled = await node.releases.compiled()
    history = await node.releases.history()
    return JSONResponse(
        {
            "active": release_json(active, active=True),
            "serving": node.release.version,
            "compiled": [release_json(info, info.key == active.key) for info in compiled],
            "history": [switch_json(change) for change in history],
        }
    )


async def activate_release(request: Request) -> Response:
    """Switch the node to a compiled release; answers once this process serves it."""
    client = authenticate(request, Role.ADMIN)
    node = _node(request)
    report = await node.releases.activate(request.path_params["release"], f"admin {client.name}")
    if node.follower is not None:
        await node.follower.catch_up()
        await node.follower.switched()
    return JSONResponse(report.to_json() | {"serving": node.release.version})


async def list_reports(request: Request) -> Response:
    authenticate(request, Role.ADMIN)
    return JSONResponse({"reports": await _node(request).releases.reports.summaries()})


async def get_report(request: Request) -> Response:
    authenticate(request, Role.ADMIN)
    seq = request.path_params["seq"]
    if not seq.isdigit():
        raise InvalidRequest(
            f"a report is named by its switch number (a whole number), not {seq!r}"
        )
    report = await _node(request).releases.report(int(seq))
    return JSONResponse(report.to_json())


def release_json(info: ReleaseInfo, active: bool) -> dict[str, Any]:
    return {
        "version": info.version,
        "key": info.key,
        "active": active,
        "terms": info.term_count,
        "annotations": info.annotation_count,
        "informationContent": info.ic_source,
        "informationContentDetail": info.ic_description,
        "annotationsFrom": info.annotations_from,
        "compiled": info.compiled_at,
        "bundled": info.bundled,
    }


def switch_json(change: ReleaseChange) -> dict[str, Any]:
    return {
        "switch": change.seq,
        "version": change.release_version,
        "key": change.release_key,
        "at": change.created.isoformat(),
        "by": change.actor,
    }


async def audit_entries(request: Request) -> Response:
    """A page of the audit log, oldest first; ``next`` is the ``after`` of the next page."""
    authenticate(request, Role.ADMIN)
    node = _node(request)
    after = int_parameter(request, "after", 0, minimum=0, maximum=MAX_ROWID)
    limit = int_parameter(request, "limit", 100, minimum=1, maximum=MAX_AUDIT_PAGE)
    subject = _subject(request, node) if _names_patient(request) else None
    entries = await node.audit.entries(
        after=after,
        limit=limit,
        since=_since(request),
        subject=subject,
        event=_event(request),
    )
    return JSONResponse(
        {
            "entries": [entry_json(entry) for entry in entries],
            "next": entries[-1].seq if len(entries) == limit else None,
        }
    )


async def verify_audit(request: Request) -> Response:
    """Recompute the chain: 200 either way, ``ok`` false naming the first bad entry."""
    authenticate(request, Role.ADMIN)
    found = await _node(request).audit.verify()
    return JSONResponse(
        {
            "ok": found.ok,
            "entries": found.entries,
            "head": {"seq": found.head_seq, "hash": found.head_hash},
            "problem": found.problem,
            "firstBad": found.first_bad,
        }
    )


async def shown_to(request: Request) -> Response:
    """Who was shown a patient (erased or not), from the audit log."""
    authenticate(request, Role.ADMIN)
    node = _node(request)
    subject = _subject(request, node)
    exposures = await node.audit.exposures(subject)
    return JSONResponse(
        {"auditSubject": subject, "shownTo": [exposure_json(exposure) for exposure in exposures]}
    )


async def erase_patient(request: Request) -> Response:
    """Erase any owner's patient; the receipt says who had been shown it."""
    client = authenticate(request, Role.ADMIN)
    owner, patient_id = request.path_params["owner"], request.path_params["patient_id"]
    receipt = await _node(request).erasure.erase(owner, patient_id, client.name)
    return JSONResponse(receipt_json(receipt))


async def list_peers(request: Request) -> Response:
    authenticate(request, Role.ADMIN)
    node = _node(request)
    return JSONResponse({"peers": [peer_json(peer, node) for peer in node.sharing.registry.list()]})


async def set_peer_policy(request: Request) -> Response:
    """Change a peer's country and/or maximum disclosure (``null``: unknown, node default)."""
    client = authenticate(request, Role.ADMIN)
    node = _node(request)
    body = await read_json(request, node.settings.max_body_bytes, JSON_MEDIA_TYPES)
    changes = _policy_changes(body)
    peer = node.sharing.registry.change(request.path_params["name"], **changes)
    await node.audit.record(peer_changed(AuditEvent.PEER_CHANGED, peer, client.name))
    return JSONResponse(peer_json(peer, node))


def _policy_changes(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest('body must be a JSON object such as {"maxDisclosure": "genes"}')
    unknown = sorted(set(body) - {"country", "maxDisclosure"})
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: is not a policy field (country, maxDisclosure)")
    if not body:
        raise InvalidRequest("nothing to change: give country and/or maxDisclosure")
    changes: dict[str, Any] = {}
    if "country" in body:
        if body["country"] is not None and not isinstance(body["country"], str):
            raise InvalidRequest("country: must be an ISO 3166 alpha-2 code or null")
        changes["country"] = body["country"]
    if "maxDisclosure" in body:
        level = body["maxDisclosure"]
        levels = {level.value for level in DisclosureLevel}
        if level is not None and not (isinstance(level, str) and level in levels):
            raise InvalidRequest(
                f"maxDisclosure: {level!r} is not one of {', '.join(DisclosureLevel)} or null"
            )
        changes["max_disclosure"] = level
    return changes


def entry_json(entry: StoredEntry) -> dict[str, Any]:
    return {"seq": entry.seq, **entry.document, "hash": entry.hash}


def exposure_json(exposure: Exposure) -> dict[str, Any]:
    return {
        "recipient": exposure.recipient,
        "first": exposure.first,
        "last": exposure.last,
        "times": exposure.times,
        "levels": list(exposure.levels),
    }


def peer_json(peer: Peer, node: Node) -> dict[str, Any]:
    """A peer as an admin sees it: its policy and state, never its token."""
    recipient = node.sharing.peer(peer)
    return {
        "name": peer.name,
        "url": peer.base_url,
        "enabled": peer.enabled,
        "apiVersion": peer.api_version,
        "country": peer.country,
        "maxDisclosure": peer.max_disclosure.value if peer.max_disclosure else None,
        "effectiveMaxDisclosure": recipient.max_disclosure,
        "inboundTokenName": peer.inbound_token_name,
    }


def _names_patient(request: Request) -> bool:
    return "owner" in request.query_params or "patientId" in request.query_params


def _subject(request: Request, node: Node) -> str:
    """The audit subject of the patient named by query parameters ``owner`` and ``patientId``."""
    owner = request.query_params.get("owner")
    patient_id = request.query_params.get("patientId")
    if not owner or not patient_id:
        raise InvalidRequest("query parameters owner and patientId name a patient together")
    return node.sharing.pseudonyms.subject(owner, patient_id)


def _since(request: Request) -> datetime | None:
    raw = request.query_params.get("since")
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(
            f"query parameter since must be an ISO 8601 date or time, not {raw!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _event(request: Request) -> AuditEvent | None:
    raw = request.query_params.get("event")
    if raw is None:
        return None
    try:
        return AuditEvent(raw)
    except ValueError:
        raise InvalidRequest(
            f"query parameter event must be one of {', '.join(AuditEvent)}, not {raw!r}"
        ) from None


ROUTES = [
    Route("/api/admin/hpo/releases", list_releases, methods=["GET"]),
    Route("/api/admin/hpo/releases/{release}/activate", activate_release, methods=["POST"]),
    Route("/api/admin/hpo/reports", list_reports, methods=["GET"]),
    Route("/api/admin/hpo/reports/{seq}", get_report, methods=["GET"]),
    Route("/api/admin/audit", audit_entries, methods=["GET"]),
    Route("/api/admin/audit/verify", verify_audit, methods=["GET"]),
    Route("/api/admin/audit/shown", shown_to, methods=["GET"]),
    Route("/api/admin/patients/{owner}/{patient_id}", erase_patient, methods=["DELETE"]),
    Route("/api/admin/peers", list_peers, methods=["GET"]),
    Route("/api/admin/peers/{name}/policy", set_peer_policy, methods=["PUT"]),
]
