"""A real OpenID Connect provider on 127.0.0.1 (oidc-provider-mock), in a thread of the test run.

It signs ID tokens with its own keys and serves discovery, authorization,
token, userinfo and JWKS endpoints, like LS Login or a hospital's Keycloak.
Its authorization page lets a browser pick one of the users below.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import werkzeug.serving


@dataclass(frozen=True)
class User:
    sub: str
    claims: dict[str, object] = field(default_factory=dict)


CLINIC_A_DOMAIN = "clinic-a.example.org"
ADA = User(
    sub="ada-1815",
    claims={
        "name": "Dr Ada Lovelace",
        "email": f"ada@{CLINIC_A_DOMAIN}",
        "email_verified": True,
    },
)
"""A clinician of clinic A (an email-domain rule maps her to owner clinic-a)."""

EVE = User(
    sub="eve-0000",
    claims={"name": "Eve", "email": "eve@elsewhere.example.org", "email_verified": True},
)
"""Someone no rule of the node admits."""

MALLORY = User(
    sub="mallory-1",
    claims={"name": "Mallory", "email": f"mallory@{CLINIC_A_DOMAIN}", "email_verified": False},
)
"""Claims clinic A's domain with an email the provider has not verified."""


SLY = User(sub="sly-7", claims={"name": "Sly"})
"""Has no email in the ID token, so the node asks userinfo, which answers about Ada instead."""


def _userinfo_about_ada_for_sly(app: Callable[..., Iterable[bytes]]) -> Callable[..., Any]:
    """The provider misbehaving: its userinfo answer for Sly's token names another user (Ada)."""

    def misbehaving(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != "/userinfo":
            return app(environ, start_response)
        answered: list[Any] = []
        body = b"".join(app(environ, lambda *args: answered.append(args)))
        status, headers = answered[0][0], answered[0][1]
        claims = json.loads(body) if status.startswith("200") else None
        if claims and claims.get("sub") == SLY.sub:
            body = json.dumps({"sub": ADA.sub, **ADA.claims}).encode()
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    return misbehaving


@contextmanager
def running_provider() -> Iterator[str]:
    """Serve the provider on a free port of 127.0.0.1; yields its issuer URL."""
    # Imported here, not at collection: it imports deprecated parts of authlib,
    # whose warnings the test run's filters silence only inside tests.
    import oidc_provider_mock

    known = (ADA, EVE, MALLORY, SLY)
    users = [oidc_provider_mock.User(sub=u.sub, claims=u.claims) for u in known]
    app = _userinfo_about_ada_for_sly(oidc_provider_mock.app(user_claims=users, require_nonce=True))
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
