"""Admin HPO endpoints and submitters' notices: roles, shapes and errors.

The switch itself (activation, report, notices) runs against a real server in
tests/matching/test_live_changes.py.
"""

from __future__ import annotations

import pytest
from api_samples import Tokens
from starlette.testclient import TestClient

ADMIN_READS = ["/api/admin/hpo/releases", "/api/admin/hpo/reports", "/api/admin/hpo/reports/1"]


@pytest.mark.parametrize("path", ADMIN_READS)
def test_admin_hpo_endpoints_refuse_other_roles_and_missing_tokens(
    client: TestClient, tokens: Tokens, path: str
) -> None:
    assert client.get(path).status_code == 401
    for token in (tokens.submitter, tokens.peer):
        assert client.get(path, headers={"X-Auth-Token": token}).status_code == 403
    activate = client.post(
        "/api/admin/hpo/releases/2025-01-16/activate", headers={"X-Auth-Token": tokens.submitter}
    )
    assert activate.status_code == 403


def test_releases_lists_the_bundled_release_as_active_and_no_switch(
    client: TestClient, tokens: Tokens
) -> None:
    body = client.get("/api/admin/hpo/releases", headers={"X-Auth-Token": tokens.admin}).json()
    assert body["active"]["version"] == body["serving"] == "2025-01-16"
    assert body["active"]["informationContent"] == "annotations"
    assert [r["version"] for r in body["compiled"] if r["active"]] == ["2025-01-16"]
    assert body["history"] == []


def test_activating_the_active_or_an_unknown_release_is_409_or_404(
    client: TestClient, tokens: Tokens
) -> None:
    admin = {"X-Auth-Token": tokens.admin}
    active = client.post("/api/admin/hpo/releases/2025-01-16/activate", headers=admin)
    assert active.status_code == 409 and "already active" in active.json()["message"]
    unknown = client.post("/api/admin/hpo/releases/2031-01-01/activate", headers=admin)
    assert unknown.status_code == 404 and "2031-01-01" in unknown.json()["message"]


def test_reports_are_named_by_number_and_missing_ones_are_404(
    client: TestClient, tokens: Tokens
) -> None:
    admin = {"X-Auth-Token": tokens.admin}
    assert client.get("/api/admin/hpo/reports", headers=admin).json() == {"reports": []}
    assert client.get("/api/admin/hpo/reports/latest", headers=admin).status_code == 400
    assert client.get("/api/admin/hpo/reports/7", headers=admin).status_code == 404


def test_notices_are_empty_at_first_and_marking_needs_a_list_of_ids(
    client: TestClient, tokens: Tokens
) -> None:
    submitter = {"X-Auth-Token": tokens.submitter}
    assert client.get("/api/notices", headers=submitter).json() == {"notices": [], "unseen": 0}
    assert client.get("/api/notices?unseen=maybe", headers=submitter).status_code == 400
    bad = client.post("/api/notices/seen", json={"ids": ["1"]}, headers=submitter)
    assert bad.status_code == 400 and bad.json()["message"].startswith("ids:")
    marked = client.post("/api/notices/seen", json={"ids": [1, 2]}, headers=submitter)
    assert marked.json() == {"marked": 0}
    assert client.get("/api/notices", headers={"X-Auth-Token": tokens.peer}).status_code == 403
