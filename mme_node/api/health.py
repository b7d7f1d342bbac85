"""``GET /health``: liveness for load balancers and container health checks.

Unlike ``/heartbeat`` it needs no token, so it says nothing beyond whether
the node and its store answer: no counts, no versions, no patient data. And
anyone may call it as often as they like, so its cost must not grow with the
store: it asks whether the store is reachable, never counts the patients.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def health(request: Request) -> Response:
    if await request.app.state.node.store.reachable():
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "store unavailable"}, status_code=503)


ROUTES = [Route("/health", health, methods=["GET"])]
