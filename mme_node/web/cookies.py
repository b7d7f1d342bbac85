"""The web app's two cookies and their flags.

``mme_session`` carries a signed-in session: HttpOnly, ``SameSite=Strict``
(no other site can make the browser send it, which stops cross-site request
forgery before the CSRF token is even checked), ``Secure`` when the node is
reached over https, limited to ``/app`` (the JSON API never sees it) and
expiring with the session.

``mme_sign_in`` carries the short sign-in session (CSRF token of the sign-in
form, pending OpenID Connect state). It must be ``SameSite=Lax``: the
provider sends the browser back to the callback from another site, and a
Strict cookie would not come along. It is limited to ``/app/sign-in``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from mme_node.security.sessions import Session
from mme_node.settings import Settings

APP_PATH = "/app"
SIGN_IN_PATH = "/app/sign-in"
SESSION_COOKIE = "mme_session"
SIGN_IN_COOKIE = "mme_sign_in"


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """How the cookies are set; ``https`` when the node's public URL is https."""

    https: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> CookiePolicy:
        return cls(https=settings.public_url.lower().startswith("https://"))

    def secure(self, request: Request) -> bool:
        """Secure when the public URL is https, or when this request itself came over https."""
        return self.https or request.url.scheme == "https"

    def set_session(self, request: Request, response: Response, session: Session) -> None:
        self._set(request, response, SESSION_COOKIE, session)

    def set_sign_in(self, request: Request, response: Response, session: Session) -> None:
        self._set(request, response, SIGN_IN_COOKIE, session)

    def clear(self, request: Request, response: Response, name: str) -> None:
        """Tell the browser to drop cookie ``name`` (one of the two above)."""
        path, same_site = _PLACES[name]
        response.delete_cookie(
            name,
            path=path,
            secure=self.secure(request),
            httponly=True,
            samesite=same_site,
        )

    def _set(self, request: Request, response: Response, name: str, session: Session) -> None:
        path, same_site = _PLACES[name]
        lifetime = int((session.expires - datetime.now(UTC)).total_seconds())
        response.set_cookie(
            name,
            session.key,
            max_age=max(lifetime, 0),
            path=path,
            secure=self.secure(request),
            httponly=True,
            samesite=same_site,
        )


_PLACES: dict[str, tuple[str, Literal["strict", "lax"]]] = {
    SESSION_COOKIE: (APP_PATH, "strict"),
    SIGN_IN_COOKIE: (SIGN_IN_PATH, "lax"),
}
"""Each cookie's path and SameSite value, the same when it is set and when it is cleared."""
