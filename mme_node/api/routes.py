"""Every HTTP route of the node, in one list."""

from __future__ import annotations

from starlette.routing import BaseRoute

from mme_node.api import admin, health, matches, mme, notices, openapi, patients

ROUTES: list[BaseRoute] = [
    *health.ROUTES,
    *mme.ROUTES,
    *patients.ROUTES,
    *matches.ROUTES,
    *notices.ROUTES,
    *admin.ROUTES,
    *openapi.ROUTES,
]
