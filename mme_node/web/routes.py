"""The web app's routes, all under ``/app`` (the JSON API keeps its own paths)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mme_node.web import admin, inbox, lookups, matching, patients, signin
from mme_node.web.cookies import APP_PATH
from mme_node.web.pages import SecurityHeaders


async def home(request: Request) -> Response:
    return RedirectResponse(signin.HOME, status_code=303)


_PATIENT = "/patients/{patient_id}"

WEB_ROUTES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/sign-in", signin.sign_in_page, methods=["GET"]),
    Route("/sign-in", signin.sign_in_with_token, methods=["POST"]),
    Route("/sign-in/oidc", signin.start_institution_sign_in, methods=["GET"]),
    Route(
        "/sign-in/oidc/callback",
        signin.finish_institution_sign_in,
        methods=["GET"],
        name=signin.CALLBACK_ROUTE,
    ),
    Route("/sign-out", signin.sign_out, methods=["POST"]),
    Route("/patients", patients.list_patients, methods=["GET"]),
    Route("/patients/new", patients.new_patient_form, methods=["GET"]),
    Route("/patients/new", patients.create_patient, methods=["POST"]),
    Route(_PATIENT, patients.show_patient, methods=["GET"]),
    Route(_PATIENT + "/edit", patients.edit_patient_form, methods=["GET"]),
    Route(_PATIENT + "/edit", patients.update_patient, methods=["POST"]),
    Route(_PATIENT + "/delete", patients.delete_patient, methods=["POST"]),
    Route(_PATIENT + "/match", matching.match_locally, methods=["POST"]),
    Route(_PATIENT + "/match/external", matching.match_externally, methods=["POST"]),
    Route("/inbox", inbox.show_inbox, methods=["GET"]),
    Route("/inbox/seen", inbox.mark_seen, methods=["POST"]),
    Route("/admin", admin.show_admin, methods=["GET"]),
    Route("/admin/audit", admin.show_audit, methods=["GET"]),
    Route("/terms", lookups.suggest_terms, methods=["GET"]),
    Route("/genes", lookups.check_gene, methods=["GET"]),
    Mount("/static", StaticFiles(packages=[("mme_node.web", "static")]), name="static"),
]


async def to_the_app(request: Request) -> Response:
    """``GET /``: a browser that opens the node's address lands in the web app."""
    return RedirectResponse(APP_PATH + "/", status_code=307)


ROUTES: list[BaseRoute] = [
    Route("/", to_the_app, methods=["GET"]),
    Mount(APP_PATH, routes=WEB_ROUTES, middleware=[Middleware(SecurityHeaders)]),
]
