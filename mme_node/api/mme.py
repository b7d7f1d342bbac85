"""Peer-facing MME endpoints: ``POST /match``, ``GET /heartbeat``, ``GET /metrics``.

All need a ``peer`` token (admins may call them too, for checks). Every
answer, errors included, carries an MME media type: the version answered in,
or the latest one the node speaks when the request could not be read.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mme_node import __version__
from mme_node.api.answers import AnswerTexts
from mme_node.api.auth import authenticate, client_address
from mme_node.api.bodies import read_document
from mme_node.api.errors import mme_error_response
from mme_node.api.versions import (
    LATEST_VERSION,
    accepted_request_types,
    media_type,
    negotiate_version,
)
from mme_node.errors import MMEError
from mme_node.formats.schemas import SUPPORTED_VERSIONS, load_match_request
from mme_node.model import Patient
from mme_node.node import Node
from mme_node.security import Role

Endpoint = Callable[[Request], Awaitable[Response]]

VALIDATE_INLINE_BYTES = 4096
"""A /match body up to this size is validated and normalised on the event loop.

A usual query (a 10-term, one-gene patient is about 700 bytes) takes some
0.4 ms to validate and normalise, less than the hand-off to a worker thread
and back; a larger one (up to ``max_features`` terms, 1 MB) is CPU work off
the loop, in the one CPU slot (:mod:`mme_node.concurrency`).
"""


def mme_endpoint(endpoint: Endpoint) -> Endpoint:
    """Errors of an MME endpoint as ``{"message", ...}`` with the latest MME media type."""

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except MMEError as error:
            response = mme_error_response(error)
            response.headers["content-type"] = media_type(LATEST_VERSION)
            return response

    return wrapped


def mme_response(content: dict[str, Any], version: str) -> Response:
    return JSONResponse(content, media_type=media_type(version))


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _answers(request: Request) -> AnswerTexts:
    """The app's serialised patients of recent answers (see :mod:`.answers`)."""
    answers: AnswerTexts = request.app.state.answers
    return answers


@mme_endpoint
async def heartbeat(request: Request) -> Response:
    """The heartbeat of the MME spec for a peer; an admin token also gets the operator's view."""
    client = authenticate(request, Role.PEER, Role.ADMIN)
    node = _node(request)
    beat: dict[str, Any] = {
        "production": node.settings.production,
        "version": __version__,
        "accept": [media_type(v) for v in SUPPORTED_VERSIONS],
    }
    if client.role is Role.ADMIN:
        beat |= await _operator_view(node)
    return mme_response({"heartbeat": beat, "disclaimer": node.settings.disclaimer}, LATEST_VERSION)


async def _operator_view(node: Node) -> dict[str, Any]:
    """What only the operator sees: the store (an Elasticsearch index and cluster URL, the
    patient count), the HPO release, the phenotype model and the worker answering."""
    health = await node.store.health()
    # Non-standard fields start with "_" (search-api), so strict clients accept them.
    return {
        "_store": {"kind": health.kind, "ok": health.ok, "detail": health.detail},
        "_hpoRelease": node.release.version,
        "_phenotypeModel": node.matcher.phenotype.tag,
        "_worker": os.getpid(),
    }


@mme_endpoint
async def match(request: Request) -> Response:
    client = authenticate(request, Role.PEER, Role.ADMIN)
    node = _node(request)
    node.limits.admit_match(client.name, client_address(request))
    version = negotiate_version(request)
    async with _match_slots(request):
        return await _answer_match(request, node, client.name, version)


def _match_slots(request: Request) -> asyncio.Semaphore:
    """At most ``match_concurrency`` /match requests of this process are worked on at once.

    Much of a usual /match runs on the event loop, a few ms at a time, and
    each slice waits behind the slices of every request in progress; so does
    ``/health``. Sixteen clients on one worker kept /health 29 ms away
    (median); with four at work and the rest waiting for a slot (which costs
    the loop nothing), 7 ms, and as many /match per second
    (docs/benchmarks.md, "Every core busy").
    """
    slots: asyncio.Semaphore = request.app.state.match_slots
    return slots


async def _answer_match(request: Request, node: Node, caller: str, version: str) -> Response:
    query = await read_document(
        request,
        node.settings.max_body_bytes,
        accepted_request_types(request),
        lambda body: _query_from(body, node),
        VALIDATE_INLINE_BYTES,
    )
    texts, settings = _answers(request), node.settings
    answer = await node.matches.inbound(
        caller,
        query,
        lambda shown: texts.answer(shown, settings.disclaimer, settings.terms, version),
    )
    return Response(answer, media_type=media_type(version))


def _query_from(body: object, node: Node) -> Patient:
    submitted, _warnings = load_match_request(body)
    query, _warnings = node.patients.normalise_query(submitted)
    return query


@mme_endpoint
async def metrics(request: Request) -> Response:
    authenticate(request, Role.PEER, Role.ADMIN)
    node = _node(request)
    counts = await node.metrics()
    return mme_response(
        {
            "metrics": counts | {"dateGenerated": datetime.date.today().isoformat()},
            "disclaimer": node.settings.disclaimer,
        },
        LATEST_VERSION,
    )


ROUTES = [
    Route("/heartbeat", heartbeat, methods=["GET"]),
    Route("/match", match, methods=["POST"]),
    Route("/metrics", metrics, methods=["GET"]),
]
