"""Signing in (institutional identity or submitter token) and out.

A visitor on the sign-in page gets a sign-in ticket (:mod:`mme_node.web.tickets`):
a signed cookie holding the CSRF token that the token form posts back and the
page to return to. Looking at the page writes nothing to the database; only
starting an institutional sign-in stores a sign-in session (its OpenID
Connect state), and those starts are rate-limited per address. Signing in
always starts a new session with a new key (a key seen before sign-in is
never the signed-in one) and ends the sign-in one.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mme_node.api.auth import authentication_failed, client_address
from mme_node.errors import MMEError, NotFound, TooManyRequests, Unauthorized
from mme_node.node import Node
from mme_node.security.sessions import Session, SessionPurpose
from mme_node.security.tokens import Role
from mme_node.web.context import SIGN_IN_LIFETIME, WebContext, node_of, web_of
from mme_node.web.cookies import APP_PATH, SESSION_COOKIE, SIGN_IN_COOKIE
from mme_node.web.csrf import CSRFRejected, check_csrf
from mme_node.web.forms import read_form
from mme_node.web.identity import Identity
from mme_node.web.pages import Call, render, signed_in
from mme_node.web.tickets import is_ticket
from mme_node.web.visitor import (
    institution_session_data,
    signed_in_visitor,
    token_session_data,
)

HOME = f"{APP_PATH}/patients"
CALLBACK_ROUTE = "web-oidc-callback"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this app only (never another site)."""
    if (
        target
        and target.startswith(APP_PATH + "/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return HOME


async def sign_in_page(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if await signed_in_visitor(request) is not None:
        return RedirectResponse(next_url, status_code=303)
    session = await _sign_in_session(request)
    if "next" in request.query_params:
        session = await _going_to(request, session, next_url)
    notice = "You are signed out." if "signed_out" in request.query_params else ""
    return await _sign_in_form(request, session, notice=notice)


async def sign_in_with_token(request: Request) -> Response:
    web, node = web_of(request), node_of(request)
    if not web.token_sign_in:
        raise NotFound("signing in with a token is switched off on this node")
    session = await _pending(node, request)
    form = await read_form(request, node.settings.max_body_bytes)
    if session is None:
        return await _sign_in_form(
            request,
            await _sign_in_session(request),
            error="The sign-in page had expired. Please sign in again.",
            status=403,
        )
    try:
        check_csrf(session.data.get("csrf"), form)
    except CSRFRejected as error:
        return await _sign_in_form(request, session, error=error.message, status=403)
    posted = form.get("token")
    token = posted if isinstance(posted, str) and posted else None
    address = client_address(request)
    try:
        # Failed token sign-ins count against the address and token, as failed API calls do.
        node.limits.check_caller(address, token)
        client = node.tokens.authenticate(token)
    except Unauthorized as error:
        authentication_failed(request, address, token, error.message)
        return await _sign_in_form(
            request, session, token_error="This token is not known to this node.", status=401
        )
    except TooManyRequests as error:
        return await _sign_in_form(request, session, error=error.message, status=error.status)
    if client.role is Role.PEER:
        return await _sign_in_form(
            request,
            session,
            token_error="A peer node's token cannot sign in here: use a submitter token.",
            status=403,
        )
    return await _signed_in(request, session, token_session_data(client.name), refresh=False)


async def start_institution_sign_in(request: Request) -> Response:
    web, node = web_of(request), node_of(request)
    if web.oidc is None:
        raise NotFound("institutional sign-in is not configured on this node")
    session = await _sign_in_session(request)
    try:
        if is_ticket(session.key):
            node.limits.admit_sign_in_start(client_address(request))
            session = await node.sessions.create(
                SessionPurpose.SIGN_IN, SIGN_IN_LIFETIME, session.data
            )
        response = await web.oidc.redirect(request, session, _callback_url(request, web))
    except MMEError as error:
        return await _sign_in_form(request, session, error=error.message, status=error.status)
    await node.sessions.save(session)
    web.cookies.set_sign_in(request, response, session)
    return response


async def finish_institution_sign_in(request: Request) -> Response:
    web, node = web_of(request), node_of(request)
    if web.oidc is None:
        raise NotFound("institutional sign-in is not configured on this node")
    session = await _pending(node, request)
    if session is None or is_ticket(session.key):  # no institutional sign-in was started here
        return await _sign_in_form(
            request,
            await _sign_in_session(request),
            error="This sign-in took too long or was started in another browser. "
            "Please sign in again.",
            status=403,
        )
    try:
        identity = await web.oidc.identity(request, session)
    except MMEError as error:
        await node.sessions.save(session)  # the used state is gone from it
        return await _sign_in_form(request, session, error=error.message, status=error.status)
    if not web.identities.admits(identity):
        return await _sign_in_form(request, session, error=_not_admitted(identity), status=403)
    return await _signed_in(request, session, institution_session_data(identity), refresh=True)


@signed_in()
async def sign_out(call: Call) -> Response:
    request, web = call.request, web_of(call.request)
    await call.node.sessions.delete(call.visitor.session.key)
    response = RedirectResponse(f"{APP_PATH}/sign-in?signed_out=1", status_code=303)
    web.cookies.clear(request, response, SESSION_COOKIE)
    return response


async def _signed_in(
    request: Request, pending: Session, data: dict[str, Any], *, refresh: bool
) -> Response:
    """Start the signed-in session, end the sign-in one, and go where the visitor was going.

    After an institutional sign-in the browser arrives from the provider's
    site, and a browser does not send a SameSite=Strict cookie on a redirect
    that a cross-site navigation started; a page that moves on by itself
    (``refresh``) starts a same-site navigation, which does carry it.
    """
    web, node = web_of(request), node_of(request)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        await node.sessions.delete(previous)
    session = await node.sessions.create(SessionPurpose.SIGNED_IN, web.session_lifetime, data)
    if not is_ticket(pending.key):
        await node.sessions.delete(pending.key)
    target = safe_next(pending.data.get("next"))
    response: Response
    if refresh:
        response = await render(request, "signed_in.html", None, {"target": target})
    else:
        response = RedirectResponse(target, status_code=303)
    web.cookies.set_session(request, response, session)
    web.cookies.clear(request, response, SIGN_IN_COOKIE)
    return response


async def _pending(node: Node, request: Request) -> Session | None:
    """The visitor's sign-in ticket, or stored sign-in session; None if neither is live."""
    value = request.cookies.get(SIGN_IN_COOKIE)
    if value and is_ticket(value):
        return web_of(request).tickets.open(value)
    return await node.sessions.load(value, SessionPurpose.SIGN_IN)


async def _sign_in_session(request: Request) -> Session:
    """The visitor's sign-in ticket or session, or a new ticket (nothing is written)."""
    session = await _pending(node_of(request), request)
    return web_of(request).tickets.new() if session is None else session


async def _going_to(request: Request, session: Session, next_url: str) -> Session:
    """``session`` returning to ``next_url`` after sign-in: a new ticket, or the stored session."""
    if is_ticket(session.key):
        return web_of(request).tickets.new(csrf=session.data["csrf"], next_url=next_url)
    session.data["next"] = next_url
    await node_of(request).sessions.save(session)
    return session


async def _sign_in_form(
    request: Request,
    session: Session,
    *,
    error: str = "",
    token_error: str = "",
    notice: str = "",
    status: int = 200,
) -> Response:
    web = web_of(request)
    response = await render(
        request,
        "sign_in.html",
        None,
        {
            "csrf_token": session.data["csrf"],
            "institution": web.oidc is not None,
            "institution_button": node_of(request).settings.oidc_button,
            "token_sign_in": web.token_sign_in,
            "error": error,
            "token_error": token_error,
            "notice": notice,
        },
        status=status,
    )
    web.cookies.set_sign_in(request, response, session)
    return response


def _callback_url(request: Request, web: WebContext) -> str:
    """The provider sends the browser back here; from ``public_url`` when it is set."""
    path = request.app.url_path_for(CALLBACK_ROUTE)
    if web.public_url:
        return web.public_url + str(path)
    return str(path.make_absolute_url(request.base_url))


def _not_admitted(identity: Identity) -> str:
    who = identity.email or identity.subject
    return (
        f"You signed in as {who}, but this node has no access rule for you. "
        "Ask the node's operator to add one (see web_owners in the node's settings)."
    )
