"""One place where errors become HTTP responses: ``{"message": ...}`` with the right status."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mme_node.errors import MMEError

log = logging.getLogger(__name__)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


async def handle_mme_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, MMEError)
    return error_response(error.status, error.message)


async def handle_http_exception(request: Request, error: Exception) -> Response:
    """Starlette's own 404/405 answers, in the node's JSON error shape."""
    assert isinstance(error, HTTPException)
    return error_response(error.status_code, str(error.detail), dict(error.headers or {}))


async def handle_unexpected(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; the node's log has the details")


EXCEPTION_HANDLERS = {
    MMEError: handle_mme_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
