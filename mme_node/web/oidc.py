"""Sign-in with OpenID Connect (LS Login / ELIXIR AAI, a hospital's Keycloak) through authlib.

The node is a confidential client of one provider, found by its issuer URL
(discovery document, keys and endpoints are fetched from it). The flow is the
authorization code flow with PKCE and a nonce; authlib keeps the pending
state in the visitor's sign-in session, which this module hands to it as
``request.session`` (the node keeps sessions itself, see
:mod:`mme_node.security.sessions`).
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    # authlib would rather use the httpx2 package and warns that it falls back
    # to httpx, which the node already uses and which serves it as well.
    # (authlib.deprecate, imported above, sets its own "always" filter on import.)
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request
from starlette.responses import Response

from mme_node.errors import Unauthorized
from mme_node.security.sessions import Session
from mme_node.settings import Settings, SettingsError
from mme_node.web.identity import Identity

PROVIDER = "institution"


class SignInFailed(Unauthorized):
    """The provider refused the sign-in, or its answer could not be trusted (401)."""


class OpenIDSignIn:
    """The node's client at the configured provider."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, scopes: str) -> None:
        self.issuer = issuer.rstrip("/")
        oauth = OAuth()
        self._client: Any = oauth.register(
            PROVIDER,
            client_id=client_id,
            client_secret=client_secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": scopes, "code_challenge_method": "S256"},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenIDSignIn | None:
        """The client of ``oidc_issuer``, or None when no provider is configured."""
        if not settings.oidc_issuer:
            return None
        if not settings.oidc_client_id:
            raise SettingsError("oidc_issuer is set, so oidc_client_id must be set too")
        if "openid" not in settings.oidc_scopes.split():
            raise SettingsError(f"oidc_scopes must include openid, not {settings.oidc_scopes!r}")
        return cls(
            settings.oidc_issuer,
            settings.oidc_client_id,
            settings.oidc_client_secret,
            settings.oidc_scopes,
        )

    async def redirect(self, request: Request, session: Session, callback_url: str) -> Response:
        """Send the browser to the provider; the pending state goes into ``session.data``."""
        request.scope["session"] = session.data
        try:
            response: Response = await self._client.authorize_redirect(request, callback_url)
        except (AuthlibBaseError, httpx.HTTPError, ValueError) as error:
            raise SignInFailed(
                f"the sign-in service at {self.issuer} cannot be reached: {_reason(error)}"
            ) from error
        return response

    async def identity(self, request: Request, session: Session) -> Identity:
        """Finish the flow at the callback: who the provider says signed in.

        Checks the state against the sign-in session, trades the code for
        tokens and verifies the ID token (signature, issuer, audience, nonce);
        asks the userinfo endpoint for the email when the ID token lacks it,
        refusing an answer about another user.
        """
        request.scope["session"] = session.data
        try:
            token = await self._client.authorize_access_token(request)
            claims = dict(token.get("userinfo") or {})
            if not claims:
                raise SignInFailed("the sign-in service sent no ID token")
            if "email" not in claims:
                claims |= _about_the_same_user(claims, await self._client.userinfo(token=token))
        except (AuthlibBaseError, httpx.HTTPError, ValueError, KeyError) as error:
            raise SignInFailed(f"sign-in was not completed: {_reason(error)}") from error
        return Identity(
            subject=str(claims["sub"]),
            name=str(claims.get("name") or ""),
            email=str(claims.get("email") or ""),
            email_verified=claims.get("email_verified") is True,
        )


def _about_the_same_user(id_token: dict[str, Any], userinfo: Any) -> dict[str, Any]:
    """The userinfo claims, when they are about the ID token's user (OpenID Connect Core 5.3.2).

    Without this check a provider's userinfo answer could replace ``sub``
    (and the email and ``email_verified`` an access rule admits by).
    """
    claims = dict(userinfo)
    if claims.get("sub") != id_token["sub"]:
        # The message goes to the browser: it names neither user.
        raise SignInFailed(
            "the sign-in service's userinfo answer is about another user than its ID token"
        )
    return claims


def _reason(error: Exception) -> str:
    """authlib errors carry their reason in ``description`` (or ``error``), others in str()."""
    if isinstance(error, AuthlibBaseError):
        return str(error.description or error.error)
    return str(error) or type(error).__name__
