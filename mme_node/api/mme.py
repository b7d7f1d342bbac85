"""Peer-facing MME endpoints (``/heartbeat``; ``/match`` and ``/metrics`` follow)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mme_node import __version__


async def heartbeat(request: Request) -> Response:
    return JSONResponse({"heartbeat": {"production": False, "version": __version__}})


ROUTES = [Route("/heartbeat", heartbeat, methods=["GET"])]
