"""Who is calling: the ``X-Auth-Token`` header checked against the token registry."""

from __future__ import annotations

from starlette.requests import Request

from mme_node.errors import Forbidden, Unauthorized
from mme_node.security.audit import AuditEntry, AuditEvent
from mme_node.security.tokens import Client, Role

TOKEN_HEADER = "X-Auth-Token"


def authenticate(request: Request, *allowed: Role) -> Client:
    """The calling client, if its token is known and its role is one of ``allowed``.

    401 for a missing or unknown token, 403 for a known token of another role
    (a peer token can never reach submitter or admin endpoints), 429 for an
    address or a token that failed too often lately (see
    :mod:`mme_node.security.ratelimit`); each 401 is counted against both,
    logged without the token, and written to the audit log (in the background:
    the answer does not wait for it).
    """
    node = request.app.state.node
    address = client_address(request)
    token = request.headers.get(TOKEN_HEADER)
    node.limits.check_caller(address, token)
    try:
        if not token:
            raise Unauthorized(f"missing {TOKEN_HEADER} header")
        client: Client = node.tokens.authenticate(token)
    except Unauthorized as error:
        authentication_failed(request, address, token, error.message)
        raise
    if client.role not in allowed:
        roles = " or ".join(role.value for role in allowed)
        raise Forbidden(
            f"this endpoint needs a {roles} token; yours is a {client.role.value} token"
        )
    return client


def client_address(request: Request) -> str:
    """The caller's address (the proxy's ``X-Forwarded-For`` when the proxy is trusted)."""
    return request.client.host if request.client else "unknown"


def authentication_failed(request: Request, address: str, token: str | None, reason: str) -> None:
    """Count a failed authentication against the address and the token, and audit it.

    The JSON API and the web app's token sign-in both report failures here,
    so each is throttled and in the audit log the same way (never with the
    token). The audit entry is written in the background: the answer does
    not wait for it.
    """
    node = request.app.state.node
    node.limits.authentication_failed(address, token, request.method, request.url.path, reason)
    details = {"reason": reason, "method": request.method, "path": request.url.path}
    node.audit.record_later(
        AuditEntry(AuditEvent.AUTHENTICATION_FAILED, actor=address, details=details)
    )
