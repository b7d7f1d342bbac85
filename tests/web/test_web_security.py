"""The web app's guards, over plain HTTP: cookies, CSRF, sessions, who sees what.

A real node in process (real SQLite file) behind Starlette's test client,
which keeps cookies like a browser; institutional sign-in goes through a
real OpenID Connect provider on 127.0.0.1.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from mme_node.app import create_app
from mme_node.security import Role, TokenRegistry
from mme_node.security.audit import AuditEvent
from mme_node.settings import Settings
from tests.web.conftest import WebTokens, case, csrf_of, sign_in


def cookie_header(response: httpx.Response, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


def attributes(header: str) -> dict[str, str]:
    parts = [part.strip() for part in header.split(";")[1:]]
    return {k.lower(): v for k, _, v in (part.partition("=") for part in parts)}


def token_sign_in_answer(client: TestClient, token: str) -> httpx.Response:
    page = client.get("/app/sign-in")
    return client.post("/app/sign-in", data={"csrf_token": csrf_of(page.text), "token": token})


def api_has_patient(client: TestClient, token: str, patient_id: str) -> bool:
    answer = client.get(f"/api/patients/{patient_id}", headers={"X-Auth-Token": token})
    return answer.status_code == 200


# ---------------------------------------------------------------- cookies


def test_token_sign_in_sets_an_httponly_strict_expiring_cookie_for_the_app_only(
    browser_client: TestClient, web_tokens: WebTokens, web_settings: Settings
) -> None:
    answer = token_sign_in_answer(browser_client, web_tokens.clinic_a)
    flags = attributes(cookie_header(answer, "mme_session"))
    assert "httponly" in flags
    assert flags["samesite"] == "strict"
    assert flags["path"] == "/app"
    assert 0 < int(flags["max-age"]) <= web_settings.web_session_minutes * 60
    assert "secure" not in flags  # plain http, no https public URL


def test_cookies_are_secure_when_the_node_is_public_over_https(
    web_settings: Settings, web_tokens: WebTokens
) -> None:
    settings = web_settings.replace(public_url="https://mme.example.org")
    # Behind a TLS proxy the node itself may see plain http: the public URL decides.
    with TestClient(create_app(settings), follow_redirects=False) as behind_proxy:
        sign_in_page = behind_proxy.get("/app/sign-in")
        assert "secure" in attributes(cookie_header(sign_in_page, "mme_sign_in"))
    with TestClient(
        create_app(settings), base_url="https://mme.example.org", follow_redirects=False
    ) as client:
        answer = token_sign_in_answer(client, web_tokens.clinic_a)
        assert "secure" in attributes(cookie_header(answer, "mme_session"))


def test_the_sign_in_cookie_is_lax_for_the_providers_return_and_limited_to_sign_in(
    browser_client: TestClient,
) -> None:
    flags = attributes(cookie_header(browser_client.get("/app/sign-in"), "mme_sign_in"))
    assert (flags["samesite"], flags["path"], "httponly" in flags) == ("lax", "/app/sign-in", True)
    assert int(flags["max-age"]) <= 15 * 60


def test_the_json_api_never_receives_the_session_cookie(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.clinic_a)
    assert browser_client.get("/api/patients").status_code == 401


# ---------------------------------------------------------------- CSRF


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.clinic_a)
    answer = browser_client.post("/app/patients/new", data=case("no-csrf"))
    assert answer.status_code == 403
    assert "did not come from this site" in answer.text
    assert not api_has_patient(browser_client, web_tokens.clinic_a, "no-csrf")


def test_a_form_with_another_sessions_csrf_token_is_refused(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.clinic_a)
    ours = dict(browser_client.cookies)
    browser_client.cookies.clear()
    their_csrf = sign_in(browser_client, web_tokens.clinic_a)  # another browser, same clinic
    browser_client.cookies.clear()
    browser_client.cookies.set("mme_session", ours["mme_session"], path="/app")
    answer = browser_client.post(
        "/app/patients/new", data=case("their-csrf", csrf_token=their_csrf)
    )
    assert answer.status_code == 403
    assert not api_has_patient(browser_client, web_tokens.clinic_a, "their-csrf")


def test_the_same_form_with_its_csrf_token_is_accepted(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    answer = browser_client.post("/app/patients/new", data=case("good-csrf", csrf_token=csrf))
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/app/patients/good-csrf?saved=1",
    )
    assert api_has_patient(browser_client, web_tokens.clinic_a, "good-csrf")


def test_token_sign_in_without_the_sign_in_pages_csrf_token_is_refused(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    browser_client.get("/app/sign-in")
    answer = browser_client.post("/app/sign-in", data={"token": web_tokens.clinic_a})
    assert answer.status_code == 403
    assert "mme_session=" not in " ".join(answer.headers.get_list("set-cookie"))


def web_session_rows(settings: Settings) -> int:
    with sqlite3.connect(settings.database_path) as db:
        count: int = db.execute("SELECT count(*) FROM web_sessions").fetchone()[0]
    return count


def test_signed_out_visits_write_no_session(
    browser_client: TestClient, web_settings: Settings
) -> None:
    before = web_session_rows(web_settings)
    for _ in range(20):
        browser_client.cookies.clear()
        assert browser_client.get("/app/sign-in").status_code == 200
        assert browser_client.get("/app/patients").status_code == 303
        assert browser_client.get("/app/sign-in?next=/app/patients").status_code == 200
    assert web_session_rows(web_settings) == before


def test_a_forged_or_altered_sign_in_ticket_is_refused(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    page = browser_client.get("/app/sign-in")
    csrf = csrf_of(page.text)
    ticket = browser_client.cookies["mme_sign_in"]
    body, _, mac = ticket.rpartition(".")
    forgeries = [
        body + "." + ("0" if mac[0] != "0" else "1") + mac[1:],  # altered signature
        "t1.eyJleHBpcmVzIjo5OTk5OTk5OTk5LCJkYXRhIjp7ImNzcmYiOiJ4In19." + mac,  # own body
    ]
    for forged in forgeries:
        browser_client.cookies.clear()
        browser_client.cookies.set("mme_sign_in", forged, path="/app/sign-in")
        answer = browser_client.post(
            "/app/sign-in", data={"csrf_token": csrf, "token": web_tokens.clinic_a}
        )
        assert answer.status_code == 403
        assert "mme_session=" not in " ".join(answer.headers.get_list("set-cookie"))
    browser_client.cookies.clear()
    browser_client.cookies.set("mme_sign_in", ticket, path="/app/sign-in")
    answer = browser_client.post(
        "/app/sign-in", data={"csrf_token": "x", "token": web_tokens.clinic_a}
    )
    assert answer.status_code == 403  # a real ticket, but another CSRF token


def test_sign_out_needs_the_csrf_token(browser_client: TestClient, web_tokens: WebTokens) -> None:
    sign_in(browser_client, web_tokens.clinic_a)
    assert browser_client.post("/app/sign-out", data={"go": "yes"}).status_code == 403
    assert browser_client.get("/app/patients").status_code == 200


# ---------------------------------------------------------------- sessions


def test_sign_out_ends_the_session_on_the_server_even_for_a_copied_cookie(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    copied = browser_client.cookies["mme_session"]
    answer = browser_client.post("/app/sign-out", data={"csrf_token": csrf})
    assert answer.headers["location"] == "/app/sign-in?signed_out=1"
    assert 'mme_session=""' in cookie_header(answer, "mme_session")
    browser_client.cookies.set("mme_session", copied, path="/app")
    assert browser_client.get("/app/patients").headers["location"].startswith("/app/sign-in")


def test_revoking_the_token_ends_its_web_sessions(
    browser_client: TestClient, web_settings: Settings
) -> None:
    with TokenRegistry(web_settings.database_path) as registry:
        token = registry.create("clinic-revoked", Role.SUBMITTER)
    sign_in(browser_client, token)
    with TokenRegistry(web_settings.database_path) as registry:
        registry.revoke("clinic-revoked")
    assert browser_client.get("/app/patients").status_code == 303


def test_signing_in_never_keeps_a_session_key_set_before(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    browser_client.cookies.set("mme_session", "planted-by-someone-else", path="/app")
    sign_in(browser_client, web_tokens.clinic_a)
    assert browser_client.cookies["mme_session"] != "planted-by-someone-else"


def test_a_peer_token_cannot_sign_in(browser_client: TestClient, web_tokens: WebTokens) -> None:
    answer = token_sign_in_answer(browser_client, web_tokens.peer)
    assert answer.status_code == 403
    assert "use a submitter token" in answer.text


def test_an_unknown_token_is_refused_beside_its_field(browser_client: TestClient) -> None:
    answer = token_sign_in_answer(browser_client, "not-a-token")
    assert answer.status_code == 401
    assert 'id="token-error"' in answer.text and 'aria-invalid="true"' in answer.text


def test_a_failed_token_sign_in_is_in_the_audit_log_without_the_token(
    browser_client: TestClient,
) -> None:
    audit = browser_client.app.state.node.audit  # type: ignore[attr-defined]

    def failures() -> list[dict[str, Any]]:
        found = browser_client.portal.call(  # type: ignore[union-attr]
            lambda: audit.newest(event=AuditEvent.AUTHENTICATION_FAILED)
        )
        return [entry.document for entry in found]

    before = len(failures())
    token_sign_in_answer(browser_client, "wrong-token-in-the-audit")

    deadline = time.monotonic() + 60  # liveness only
    while len(failures()) == before and time.monotonic() < deadline:  # written in the background
        time.sleep(0.05)
    newest = failures()[0]
    assert (newest["actor"], newest["details"]["path"]) == ("testclient", "/app/sign-in")
    assert "wrong-token-in-the-audit" not in str(newest)


def test_a_page_asked_for_signed_out_is_where_sign_in_returns(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    redirect = browser_client.get("/app/inbox")
    assert redirect.headers["location"] == "/app/sign-in?next=%2Fapp%2Finbox"
    page = browser_client.get(redirect.headers["location"])
    answer = browser_client.post(
        "/app/sign-in", data={"csrf_token": csrf_of(page.text), "token": web_tokens.clinic_a}
    )
    assert answer.headers["location"] == "/app/inbox"


@pytest.mark.parametrize(
    "target", ["https://evil.example.org/app/", "//evil.example.org/app/x", "/api/patients"]
)
def test_sign_in_never_sends_the_browser_off_the_app(
    browser_client: TestClient, web_tokens: WebTokens, target: str
) -> None:
    page = browser_client.get("/app/sign-in", params={"next": target})
    answer = browser_client.post(
        "/app/sign-in", data={"csrf_token": csrf_of(page.text), "token": web_tokens.clinic_a}
    )
    assert answer.headers["location"] == "/app/patients"


# ---------------------------------------------------------------- who sees what


def test_pages_forbid_framing_scripts_from_elsewhere_and_caching(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.clinic_a)
    headers = browser_client.get("/app/patients").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"


def test_the_type_ahead_needs_a_session(browser_client: TestClient, web_tokens: WebTokens) -> None:
    assert browser_client.get("/app/terms", params={"q": "seiz"}).status_code == 401
    sign_in(browser_client, web_tokens.clinic_a)
    terms = browser_client.get("/app/terms", params={"q": "seiz"}).json()["terms"]
    assert terms[0] == {"id": "HP:0001250", "name": "Seizure", "matched": "Seizure"}


def test_the_gene_check_says_how_a_gene_was_read(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.clinic_a)
    gene = browser_client.get("/app/genes", params={"q": "HUNK1"}).json()
    assert (gene["symbol"], gene["foundAs"]) == ("BRD4", "alias")


def test_a_submitter_never_sees_another_owners_patient(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_b)
    browser_client.post("/app/patients/new", data=case("b-only", csrf_token=csrf))
    sign_in(browser_client, web_tokens.clinic_a)
    assert browser_client.get("/app/patients/b-only").status_code == 404
    assert "b-only" not in browser_client.get("/app/patients").text


def test_the_admin_page_is_for_admins_only(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.clinic_a)
    assert browser_client.get("/app/admin").status_code == 403
    sign_in(browser_client, web_tokens.admin)
    page = browser_client.get("/app/admin")
    assert page.status_code == 200 and "peer-node" in page.text


# ---------------------------------------------------------------- institutional sign-in


def provider_login(client: TestClient, subject: str) -> httpx.Response:
    """Start institutional sign-in, let the provider sign ``subject`` in, follow it back."""
    start = client.get("/app/sign-in/oidc")
    assert start.status_code == 302
    with httpx.Client() as browser:
        consent = browser.post(start.headers["location"], data={"sub": subject})
    back = urlsplit(consent.headers["location"])
    return client.get(f"{back.path}?{back.query}")


def test_institutional_sign_in_maps_the_identity_to_its_owner(
    browser_client: TestClient,
) -> None:
    answer = provider_login(browser_client, "ada-1815")
    assert answer.status_code == 200 and "/app/patients" in answer.text
    assert "strict" in cookie_header(answer, "mme_session").lower()
    page = browser_client.get("/app/patients/new")
    assert (
        'value="Dr Ada Lovelace"' in page.text and 'value="ada@clinic-a.example.org"' in page.text
    )


@pytest.mark.parametrize("subject", ["eve-0000", "mallory-1"])
def test_an_identity_no_rule_admits_is_refused_without_a_session(
    browser_client: TestClient, subject: str
) -> None:
    answer = provider_login(browser_client, subject)
    assert answer.status_code == 403
    assert "no access rule for you" in answer.text
    assert "mme_session=" not in " ".join(answer.headers.get_list("set-cookie"))


def test_a_userinfo_answer_about_another_user_is_refused(browser_client: TestClient) -> None:
    # Sly's ID token has no email; the provider's userinfo then answers with Ada's sub and
    # verified clinic-A email (OpenID Connect Core 5.3.2: the subs must be equal).
    answer = provider_login(browser_client, "sly-7")
    assert answer.status_code == 401
    assert "userinfo" in answer.text
    assert "mme_session=" not in " ".join(answer.headers.get_list("set-cookie"))
    assert browser_client.get("/app/patients").status_code == 303  # to the sign-in page


def test_a_callback_started_in_another_browser_is_refused(
    browser_client: TestClient, web_settings: Settings
) -> None:
    start = browser_client.get("/app/sign-in/oidc")
    with httpx.Client() as browser:
        consent = browser.post(start.headers["location"], data={"sub": "ada-1815"})
    back = urlsplit(consent.headers["location"])
    assert "code" in parse_qs(back.query)
    with TestClient(create_app(web_settings), follow_redirects=False) as elsewhere:
        answer = elsewhere.get(f"{back.path}?{back.query}")
    assert answer.status_code == 403
    assert "mme_session=" not in " ".join(answer.headers.get_list("set-cookie"))


def test_a_callback_with_only_the_sign_in_pages_ticket_is_refused(
    browser_client: TestClient,
) -> None:
    browser_client.get("/app/sign-in")  # a ticket, but no institutional sign-in started
    answer = browser_client.get("/app/sign-in/oidc/callback?code=stolen&state=guessed")
    assert answer.status_code == 403
    assert "took too long or was started in another browser" in answer.text
    assert "mme_session=" not in " ".join(answer.headers.get_list("set-cookie"))


def test_failed_token_sign_ins_are_throttled_like_failed_api_calls(
    web_settings: Settings, web_tokens: WebTokens
) -> None:
    settings = web_settings.replace(rate_limit_failed_auth=2)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        for _ in range(2):
            assert token_sign_in_answer(client, "wrong").status_code == 401
        refused = token_sign_in_answer(client, web_tokens.clinic_a)
        assert refused.status_code == 429
        assert "mme_session=" not in " ".join(refused.headers.get_list("set-cookie"))


def test_institutional_sign_in_starts_are_throttled_per_address(
    web_settings: Settings, web_tokens: WebTokens
) -> None:
    settings = web_settings.replace(rate_limit_failed_auth=2)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        before = web_session_rows(settings)
        for _ in range(2):
            client.cookies.clear()
            assert client.get("/app/sign-in/oidc").status_code in (302, 303, 307)
        assert web_session_rows(settings) == before + 2  # each start keeps its OIDC state
        client.cookies.clear()
        refused = client.get("/app/sign-in/oidc")
        assert refused.status_code == 429
        assert web_session_rows(settings) == before + 2
