"""Who is calling: the ``X-Auth-Token`` header checked against the token registry."""

from __future__ import annotations

from starlette.requests import Request

from mme_node.errors import Forbidden, Unauthorized
from mme_node.security.tokens import Client, Role

TOKEN_HEADER = "X-Auth-Token"


def authenticate(request: Request, *allowed: Role) -> Client:
    """The calling client, if its token is known and its role is one of ``allowed``.

    401 for a missing or unknown token, 403 for a known token of another role
    (a peer token can never reach submitter or admin endpoints).
    """
    token = request.headers.get(TOKEN_HEADER)
    if not token:
        raise Unauthorized(f"missing {TOKEN_HEADER} header")
    client: Client = request.app.state.node.tokens.authenticate(token)
    if client.role not in allowed:
        roles = " or ".join(role.value for role in allowed)
        raise Forbidden(
            f"this endpoint needs a {roles} token; yours is a {client.role.value} token"
        )
    return client
