"""Administrator endpoints under ``/api/admin/...`` (an ``admin`` token).

HPO releases: list the compiled releases and the node's switches, activate one
(an upgrade or a rollback) and read what each switch did to the patients.
Loading new release files is done on the node's machine with ``mme-node hpo
load`` (the files are there); activating through the API then works for every
release the node has compiled.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hpo import ReleaseInfo
from mme_node.api.auth import authenticate
from mme_node.errors import InvalidRequest
from mme_node.node import Node
from mme_node.security.tokens import Role
from mme_node.stores.changes import ReleaseChange


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def list_releases(request: Request) -> Response:
    authenticate(request, Role.ADMIN)
    node = _node(request)
    active = await node.releases.active()
    compiled = await node.releases.compiled()
    history = await node.releases.history()
    return JSONResponse(
        {
            "active": release_json(active.info, active=True),
            "serving": node.release.version,
            "compiled": [release_json(info, info.key == active.info.key) for info in compiled],
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


ROUTES = [
    Route("/api/admin/hpo/releases", list_releases, methods=["GET"]),
    Route("/api/admin/hpo/releases/{release}/activate", activate_release, methods=["POST"]),
    Route("/api/admin/hpo/reports", list_reports, methods=["GET"]),
    Route("/api/admin/hpo/reports/{seq}", get_report, methods=["GET"]),
]
