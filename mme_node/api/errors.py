"""One place where errors become HTTP responses: ``{"message": ...}`` with the right status."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from mme_node.errors import MMEError

log = logging.getLogger(__name__)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def mme_error_response(error: MMEError) -> Response:
    """An :class:`MMEError` as its status, headers and ``{"message", ...its fields}``."""
    return JSONResponse(
        {"message": error.message, **error.fields},
        status_code=error.status,
        headers=error.headers,
    )


async def handle_mme_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, MMEError)
    return mme_error_response(error)


async def handle_http_exception(request: Request, error: Exception) -> Response:
    """Starlette's own 404/405 answers, in the node's JSON error shape.

    Starlette's 405 names the methods of the first route whose path matched;
    a path served by several routes (GET and POST ``/api/patients``) needs
    all of them in ``Allow``.
    """
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(error.status_code, str(error.detail), headers)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


async def handle_client_disconnect(request: Request, error: Exception) -> Response:
    """A client that hung up mid-upload: one line at info, not a server error.

    Nobody is left to read the answer; the status only shows in an access log.
    """
    client = request.client.host if request.client else "unknown client"
    log.info(
        "%s hung up before sending the whole body of %s %s",
        client,
        request.method,
        request.url.path,
    )
    return Response(status_code=400)


async def handle_unexpected(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; the node's log has the details")


EXCEPTION_HANDLERS = {
    MMEError: handle_mme_error,
    HTTPException: handle_http_exception,
    ClientDisconnect: handle_client_disconnect,
    Exception: handle_unexpected,
}
