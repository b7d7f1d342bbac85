"""Sign-in tickets: the sign-in form's state in a cookie signed with the node key.

A visitor who only looks at the sign-in page (and every signed-out visit to
an ``/app`` page ends there) must cost the node no database write: anyone
can send such requests, unauthenticated and as fast as they like, and every
write waits for SQLite's one write lock that patient saves and match history
need. So the sign-in page's CSRF token and the page to return to travel in
the ``mme_sign_in`` cookie itself, with an expiry, under an HMAC of the node
key (:mod:`mme_node.security.keys`): a double-submit cookie that nobody
without the key can forge or alter. The token form posts the CSRF token
back; it must equal the ticket's.

A ticket is handed around as a :class:`Session` of purpose ``sign-in`` whose
key is the cookie value. Only an institutional sign-in, whose OpenID Connect
state must be used once and stay secret, turns it into a stored session.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from mme_node.security.keys import NodeKey
from mme_node.security.sessions import Session, SessionPurpose
from mme_node.web.csrf import new_csrf_token

_PREFIX = "t1."
"""Starts every ticket; a stored session's key (URL-safe base64) never holds a dot."""
_PURPOSE = "web-sign-in-ticket"


def is_ticket(key: str) -> bool:
    """True for a ticket's cookie value, False for a stored session's key."""
    return key.startswith(_PREFIX)


class SignInTickets:
    """Makes and checks tickets under the node key; ``lifetime`` is a new ticket's."""

    def __init__(self, key: NodeKey, lifetime: timedelta) -> None:
        self._key = key
        self._lifetime = lifetime

    def new(self, *, csrf: str | None = None, next_url: str | None = None) -> Session:
        """A fresh ticket (with a new CSRF token unless ``csrf`` is given)."""
        expires = datetime.now(UTC).replace(microsecond=0) + self._lifetime
        data: dict[str, Any] = {"csrf": csrf or new_csrf_token()}
        if next_url is not None:
            data["next"] = next_url
        body = _encode({"expires": int(expires.timestamp()), "data": data})
        return Session(
            _PREFIX + body + "." + self._mac(body), SessionPurpose.SIGN_IN, expires, data
        )

    def open(self, value: str | None) -> Session | None:
        """The ticket in ``value``; None unless it is one, signed by this node and unexpired."""
        if not value or not is_ticket(value):
            return None
        body, _, mac = value[len(_PREFIX) :].rpartition(".")
        if not hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(body).encode()):
            return None
        payload = _decode(body)
        if payload is None:
            return None
        expires = datetime.fromtimestamp(payload["expires"], UTC)
        if expires <= datetime.now(UTC):
            return None
        return Session(value, SessionPurpose.SIGN_IN, expires, payload["data"])

    def _mac(self, body: str) -> str:
        return self._key.digest(_PURPOSE, body)


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(body: str) -> dict[str, Any] | None:
    """The payload of a signed body; None if it is not one (only our own bodies are signed)."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return None
    return payload
