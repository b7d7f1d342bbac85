"""What the web app keeps beside the node: identity rules, cookie policy, the OIDC client.

Built once from the settings when the app is created (so a bad identity rule
stops start-up with its name), kept in ``app.state.web``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request

from mme_node.node import Node
from mme_node.security.keys import NodeKey
from mme_node.settings import Settings
from mme_node.web.cookies import CookiePolicy
from mme_node.web.identity import IdentityMap
from mme_node.web.oidc import OpenIDSignIn
from mme_node.web.tickets import SignInTickets

SIGN_IN_LIFETIME = timedelta(minutes=15)
"""How long the sign-in page (and a pending institutional sign-in) stays valid."""


@dataclass(frozen=True)
class WebContext:
    identities: IdentityMap
    cookies: CookiePolicy
    oidc: OpenIDSignIn | None
    session_lifetime: timedelta
    token_sign_in: bool
    public_url: str
    tickets: SignInTickets

    @classmethod
    def from_settings(cls, settings: Settings) -> WebContext:
        return cls(
            identities=IdentityMap.from_settings(settings),
            cookies=CookiePolicy.from_settings(settings),
            oidc=OpenIDSignIn.from_settings(settings),
            session_lifetime=timedelta(minutes=settings.web_session_minutes),
            token_sign_in=settings.web_token_sign_in,
            public_url=settings.public_url.rstrip("/"),
            tickets=SignInTickets(NodeKey.in_data_dir(settings.data_dir), SIGN_IN_LIFETIME),
        )


def web_of(request: Request) -> WebContext:
    web: WebContext = request.app.state.web
    return web


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node
