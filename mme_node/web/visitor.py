"""Who is using the web app: the signed-in session behind the request's cookie.

A signed-in session says how its holder signed in, and nothing it could
outlive: a token sign-in keeps the client's name (checked against the token
registry on every request, so revoking the token ends the session), an
institutional sign-in keeps the provider's claims (mapped to an owner by the
operator's rules on every request, so removing a rule ends it too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from mme_node.errors import Forbidden, NotFound
from mme_node.node import Node
from mme_node.security.sessions import Session, SessionPurpose
from mme_node.security.tokens import Role
from mme_node.web.context import WebContext, node_of, web_of
from mme_node.web.cookies import SESSION_COOKIE
from mme_node.web.csrf import new_csrf_token
from mme_node.web.identity import Identity

VIA_TOKEN = "token"
VIA_INSTITUTION = "institution"


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in clinician (or administrator), as this request sees them.

    ``person_name`` and ``email`` are the person's, known after an
    institutional sign-in only (a token names a clinic, not a person).
    """

    session: Session
    name: str
    owner: str | None
    admin: bool
    person_name: str = ""
    email: str = ""

    @property
    def csrf_token(self) -> str:
        return str(self.session.data["csrf"])

    def patients_owner(self) -> str:
        """The owner whose patients this visitor handles (``Forbidden`` for admins only)."""
        if self.owner is None:
            raise Forbidden(
                "your sign-in gives access to the admin page only: no patients are yours here"
            )
        return self.owner


def token_session_data(client_name: str) -> dict[str, Any]:
    return {"csrf": new_csrf_token(), "via": VIA_TOKEN, "client": client_name}


def institution_session_data(identity: Identity) -> dict[str, Any]:
    return {
        "csrf": new_csrf_token(),
        "via": VIA_INSTITUTION,
        "identity": {
            "subject": identity.subject,
            "name": identity.name,
            "email": identity.email,
            "email_verified": identity.email_verified,
        },
    }


async def signed_in_visitor(request: Request) -> Visitor | None:
    """The visitor of the request's session cookie, or None (no, expired or ended session)."""
    node = node_of(request)
    session = await node.sessions.load(
        request.cookies.get(SESSION_COOKIE), SessionPurpose.SIGNED_IN
    )
    if session is None:
        return None
    return visitor_of(session, node, web_of(request))


def visitor_of(session: Session, node: Node, web: WebContext) -> Visitor | None:
    """The visitor a signed-in session stands for today; None if it no longer may sign in."""
    data = session.data
    if data.get("via") == VIA_TOKEN:
        try:
            client = node.tokens.get(str(data["client"]))
        except NotFound:
            return None
        if not client.active or client.role is Role.PEER:
            return None
        return Visitor(session, client.name, client.name, client.role is Role.ADMIN)
    identity = Identity(**data["identity"])
    if not web.identities.admits(identity):
        return None
    owner = web.identities.owner_of(identity)
    admin = web.identities.is_admin(identity)
    return Visitor(
        session, identity.shown_name, owner, admin, identity.name, identity.verified_email or ""
    )
