"""The admin pages over plain HTTP: the HPO release in use and the audit trail.

The audit trail is read through the audit service of the module's node: a
real local match writes real disclosure entries (the browser tests show a
release switch's report on a real server).
"""

from __future__ import annotations

import re
import sqlite3

from markupsafe import escape
from starlette.testclient import TestClient

from mme_node.node import Node
from mme_node.security.audit import EVENT_MEANINGS, AuditEntry, AuditEvent
from mme_node.settings import Settings
from tests.web.conftest import WebTokens, case, sign_in

AUDIT_ROW = re.compile(r'<tr>\s*<td class="num">(\d+)</td>')
SECRET_ID = "ward7-bed3-smith"
"""A patient id that names a person: it must never reach the audit page."""


def node_of(client: TestClient) -> Node:
    node: Node = client.app.state.node  # type: ignore[attr-defined]
    return node


def record(client: TestClient, *entries: AuditEntry) -> None:
    client.portal.call(lambda: node_of(client).audit.record(*entries))  # type: ignore[union-attr]


def shown_numbers(page: str) -> list[int]:
    return [int(n) for n in AUDIT_ROW.findall(page)]


def test_the_audit_trail_is_for_admins_only(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.clinic_a)
    assert browser_client.get("/app/admin/audit").status_code == 403


def test_a_local_matchs_disclosures_are_listed_without_the_patients_id(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    browser_client.post("/app/patients/new", data=case(SECRET_ID, csrf_token=csrf, label="Smith"))
    csrf = sign_in(browser_client, web_tokens.clinic_b)
    browser_client.post("/app/patients/new", data=case("b-asks", csrf_token=csrf))
    matched = browser_client.post("/app/patients/b-asks/match", data={"csrf_token": csrf})
    assert matched.status_code == 200

    sign_in(browser_client, web_tokens.admin)
    page = browser_client.get("/app/admin/audit").text

    assert re.search(r'<span class="event event-disclosure">disclosure</span>', page)
    assert "local:clinic-b" in page
    assert SECRET_ID not in page and "Smith" not in page
    assert escape(EVENT_MEANINGS[AuditEvent.DISCLOSURE]) in page  # what each kind means


def test_entries_are_listed_newest_first_a_page_at_a_time(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    record(browser_client, *(AuditEntry(AuditEvent.RETENTION, actor="node") for _ in range(60)))
    sign_in(browser_client, web_tokens.admin)

    first = browser_client.get("/app/admin/audit").text
    numbers = shown_numbers(first)
    older = re.search(r'href="(/app/admin/audit\?before=(\d+))"', first)

    assert len(numbers) == 50 and numbers == sorted(numbers, reverse=True)
    assert older and int(older[2]) == numbers[-1]
    second = shown_numbers(browser_client.get(older[1].replace("&amp;", "&")).text)
    assert second and max(second) == numbers[-1] - 1


def test_entries_are_shown_by_kind(browser_client: TestClient, web_tokens: WebTokens) -> None:
    record(browser_client, AuditEntry(AuditEvent.TOKEN_REVOKED, actor="cli:root"))
    sign_in(browser_client, web_tokens.admin)

    page = browser_client.get("/app/admin/audit?event=token-revoked").text

    assert re.findall(r'<span class="event event-([a-z-]+)">[a-z-]+</span>\s*</th>', page) == [
        "token-revoked"
    ]


def test_verifying_the_chain_says_it_is_intact_then_names_an_edited_entry(
    browser_client: TestClient, web_tokens: WebTokens, web_settings: Settings
) -> None:
    record(browser_client, AuditEntry(AuditEvent.PEER_ADDED, actor="cli:root", recipient="x"))
    (added,) = browser_client.portal.call(  # type: ignore[union-attr]
        lambda: node_of(browser_client).audit.newest(limit=1)
    )
    sign_in(browser_client, web_tokens.admin)
    assert "The chain is intact" not in browser_client.get("/app/admin/audit").text

    intact = browser_client.get("/app/admin/audit?verify=1").text
    assert "The chain is intact" in intact

    with sqlite3.connect(web_settings.database_path) as raw:
        raw.execute("DROP TRIGGER IF EXISTS audit_log_is_append_only_update")
        raw.execute(
            "UPDATE audit_log SET entry = replace(entry, '\"x\"', '\"y\"') WHERE seq = ?",
            (added.seq,),
        )
    broken = browser_client.get("/app/admin/audit?verify=1").text
    assert "The chain is broken" in broken and f"entry {added.seq} was changed" in broken


def test_bad_audit_parameters_are_refused_by_name(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.admin)
    for query, named in (("before=-1", "before"), ("event=nothing", "event")):
        answer = browser_client.get(f"/app/admin/audit?{query}")
        assert answer.status_code == 400 and named in answer.text


def test_the_admin_page_names_the_release_in_use_and_its_annotations(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.admin)

    page = browser_client.get("/app/admin").text

    assert re.search(r"<dt>In use</dt><dd><strong>2025-01-16</strong>", page)
    assert "from the release&#39;s own annotations" in page
    assert "None yet: this node has used 2025-01-16 from the start." in page
