"""Cross-site request forgery: a per-session token that every form posts back.

The token is random, kept in the session (on the server), put in each form
as a hidden field and compared in constant time. ``SameSite=Strict`` on the
session cookie already keeps other sites' posts unauthenticated; the token
also covers the sign-in forms and browsers that ignore SameSite.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import FormData

from mme_node.errors import Forbidden

CSRF_FIELD = "csrf_token"


class CSRFRejected(Forbidden):
    """A form post without the session's CSRF token (403)."""


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def check_csrf(expected: str | None, form: FormData) -> None:
    """Accept the form only if it carries ``expected`` (``CSRFRejected`` otherwise)."""
    posted = form.get(CSRF_FIELD)
    if not expected or not isinstance(posted, str) or not hmac.compare_digest(posted, expected):
        raise CSRFRejected(
            "this form is out of date or did not come from this site; "
            "reload the page and send it again"
        )
