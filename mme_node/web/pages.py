"""Rendering pages, and the one decorator every signed-in page goes through.

:func:`signed_in` does for a page what ``authenticate`` does for the JSON
API, in a browser's terms: no session -> the sign-in page (coming back here
afterwards), a form post -> its CSRF token checked, a domain error -> an
error page saying what went wrong, with its status. Each page handler then
reads as the clinician's step: load, call a service, render.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mme_node.api.errors import error_response
from mme_node.errors import Forbidden, InvalidRequest, MMEError, Unauthorized
from mme_node.node import Node
from mme_node.stores.database import MAX_ROWID
from mme_node.web.context import node_of
from mme_node.web.cookies import APP_PATH, SIGN_IN_PATH
from mme_node.web.csrf import CSRF_FIELD, check_csrf
from mme_node.web.forms import read_form
from mme_node.web.visitor import Visitor, signed_in_visitor

log = logging.getLogger(__name__)

STATIC_PATH = f"{APP_PATH}/static"
SPECIFICITY_SCALE = 10.0
"""Information content drawn as a full bar: one scale for every result, so bars compare."""


def patient_url(patient_id: str, action: str = "") -> str:
    """The page of one patient (``action`` appended), its id percent-encoded."""
    path = f"{APP_PATH}/patients/{quote(patient_id, safe='')}"
    return f"{path}/{action}" if action else path


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("mme_node.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        patient_url=patient_url,
        app_path=APP_PATH,
        static_path=STATIC_PATH,
        csrf_field=CSRF_FIELD,
        specificity_scale=SPECIFICITY_SCALE,
    )
    return environment


TEMPLATES = Jinja2Templates(env=_environment())


async def render(
    request: Request,
    template: str,
    visitor: Visitor | None,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """A page of the app: the layout knows the visitor and counts their inbox.

    The count is what the inbox lists: unseen matches and unseen notices.
    """
    node = node_of(request)
    inbox_count = 0
    if visitor is not None and visitor.owner is not None:
        counts = await node.history.unseen_counts(visitor.owner)
        inbox_count = sum(counts.values()) + await node.notices.unseen_count(visitor.owner)
    shared = {"visitor": visitor, "inbox_count": inbox_count, "hpo_version": node.release.version}
    return TEMPLATES.TemplateResponse(
        request, template, {**shared, **(context or {})}, status_code=status
    )


@dataclass(frozen=True)
class Call:
    """One request to a signed-in page: the visitor, the posted form (CSRF-checked), the node."""

    request: Request
    visitor: Visitor
    form: FormData
    node: Node

    def path(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else default

    def before(self, what: str) -> int | None:
        """The ``before`` of a list shown newest first, a page at a time; None: the newest.

        A whole number from 1 to SQLite's largest integer, as the API asks, else
        a 400 saying it must be ``what``, never a failing database query.
        """
        text = self.request.query_params.get("before", "")
        if not text:
            return None
        # The length before int(): Python refuses to convert thousands of digits.
        digits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ROWID))
        if not (digits and 1 <= int(text) <= MAX_ROWID):
            raise InvalidRequest(f"before must be {what}, not {text!r}")
        return int(text)

    async def render(
        self, template: str, context: Mapping[str, Any] | None = None, status: int = 200
    ) -> Response:
        return await render(self.request, template, self.visitor, context, status)


Page = Callable[[Call], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def signed_in(*, admin: bool = False) -> Callable[[Page], Endpoint]:
    """Make ``page`` an endpoint for signed-in visitors (administrators when ``admin``)."""

    def decorate(page: Page) -> Endpoint:
        @functools.wraps(page)
        async def endpoint(request: Request) -> Response:
            visitor = await signed_in_visitor(request)
            if visitor is None:
                return sign_in_redirect(request)
            node = node_of(request)
            try:
                if admin and not visitor.admin:
                    raise Forbidden("this page is for the node's administrators")
                form = FormData()
                if request.method == "POST":
                    form = await read_form(request, node.settings.max_body_bytes)
                    check_csrf(visitor.csrf_token, form)
                return await page(Call(request, visitor, form, node))
            except Unauthorized:
                return sign_in_redirect(request)
            except MMEError as error:
                return await error_page(request, visitor, error)

        return endpoint

    return decorate


def signed_in_json(handler: Callable[[Request, Visitor], Awaitable[Response]]) -> Endpoint:
    """A JSON helper of the pages (type-ahead): 401 without a session, errors as JSON."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        visitor = await signed_in_visitor(request)
        if visitor is None:
            return error_response(401, "sign in first")
        try:
            return await handler(request, visitor)
        except MMEError as error:
            return error_response(error.status, error.message)

    return endpoint


def sign_in_redirect(request: Request) -> Response:
    """To the sign-in page; a page asked for with GET is where the visitor comes back to."""
    target = SIGN_IN_PATH
    if request.method == "GET":
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?" + urlencode({"next": wanted})
    return RedirectResponse(target, status_code=303)


async def error_page(request: Request, visitor: Visitor | None, error: MMEError) -> Response:
    if error.status >= 500:
        log.warning("web page %s failed: %s", request.url.path, error.message)
    return await render(
        request,
        "error.html",
        visitor,
        {"status": error.status, "message": error.message},
        status=error.status,
    )


def json_answer(content: Any) -> Response:
    return JSONResponse(content, headers={"Cache-Control": "no-store"})


CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
"""Only the app's own files run or load: no inline script, nothing from elsewhere."""


class SecurityHeaders:
    """ASGI middleware for every ``/app`` response: CSP, no framing, no sniffing, no caching.

    Pages show patients, so they are never cached (``no-store``); the static
    files are the exception, cached for an hour.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(STATIC_PATH + "/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name, value)
                    for name, value in (
                        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                        (b"x-frame-options", b"DENY"),
                        (b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"same-origin"),
                        (b"cache-control", b"public, max-age=3600" if static else b"no-store"),
                    )
                    if name not in present
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
