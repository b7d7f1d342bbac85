"""The inbox over plain HTTP: owner notices beside new matches, counted and marked as seen.

Notices are posted through the notices service, as an HPO release switch
posts them (the browser tests post them by a real switch).
"""

from __future__ import annotations

import dataclasses
import re

from starlette.testclient import TestClient

from mme_node.node import Node
from mme_node.services.notices import TERMS_NOT_CARRIED_OVER, Notice
from tests.web.conftest import WebTokens, case, sign_in

WITHOUT_SUCCESSOR = "HP:0025237"
SUGGESTED = "HP:0001250"  # Seizure


def node_of(client: TestClient) -> Node:
    node: Node = client.app.state.node  # type: ignore[attr-defined]
    return node


def post_notice(client: TestClient, owner: str, patient_id: str, **changes: object) -> Notice:
    notice = Notice(
        owner=owner,
        kind=TERMS_NOT_CARRIED_OVER,
        patient_id=patient_id,
        message=f"HPO release 2026-02-16 cannot place {WITHOUT_SUCCESSOR} of {patient_id}",
        details={
            "release": "2026-02-16",
            "report": 2,
            "terms": {WITHOUT_SUCCESSOR: [SUGGESTED]},
            "names": {WITHOUT_SUCCESSOR: "Confusional arousal"},
        },
    )
    notice = dataclasses.replace(notice, **changes)  # type: ignore[arg-type]
    (posted,) = client.portal.call(node_of(client).notices.post, [notice])  # type: ignore[union-attr]
    return posted


def badge(page: str) -> int:
    found = re.search(r'<span class="count" title="(\d+) new">', page)
    return int(found[1]) if found else 0


def test_a_notice_is_in_the_inbox_with_the_suggested_terms_named(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    browser_client.post("/app/patients/new", data=case("noticed-1", csrf_token=csrf))
    post_notice(browser_client, "clinic-a", "noticed-1")

    page = browser_client.get("/app/inbox").text

    assert "Notices about your patients" in page
    assert "1 term of" in page and 'href="/app/patients/noticed-1"' in page
    assert (
        f'<strong>Confusional arousal</strong> <span class="term-id">{WITHOUT_SUCCESSOR}</span>'
        " is not a current term of HPO 2026-02-16"
    ) in page
    assert f'HPO suggests <strong>Seizure</strong> <span class="term-id">{SUGGESTED}' in page
    assert 'href="/app/patients/noticed-1/edit"' in page


def test_the_nav_badge_counts_notices_and_marking_one_seen_takes_it_away(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    before = badge(browser_client.get("/app/patients").text)
    notice = post_notice(browser_client, "clinic-a", "noticed-2")
    assert badge(browser_client.get("/app/patients").text) == before + 1

    seen = browser_client.post(
        "/app/inbox/seen", data={"csrf_token": csrf, "notice": str(notice.id)}
    )

    assert seen.status_code == 303
    page = browser_client.get("/app/inbox").text
    assert f'name="notice" value="{notice.id}"' not in page
    assert badge(page) == before


def test_mark_all_as_seen_takes_notices_too(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    post_notice(browser_client, "clinic-a", "noticed-3")
    post_notice(browser_client, "clinic-a", "noticed-4")

    browser_client.post("/app/inbox/seen", data={"csrf_token": csrf, "match": "all"})

    page = browser_client.get("/app/inbox").text
    assert "Nothing new" in page and badge(page) == 0
    assert client_unseen(browser_client, "clinic-a") == 0


def test_an_owner_sees_and_marks_only_their_own_notices(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    theirs = post_notice(browser_client, "clinic-b", "b-noticed")
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    assert "b-noticed" not in browser_client.get("/app/inbox").text

    browser_client.post("/app/inbox/seen", data={"csrf_token": csrf, "notice": str(theirs.id)})
    browser_client.post("/app/inbox/seen", data={"csrf_token": csrf, "match": "all"})

    assert client_unseen(browser_client, "clinic-b") == 1


def test_a_notice_of_another_kind_is_shown_by_its_message(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    sign_in(browser_client, web_tokens.clinic_a)
    post_notice(browser_client, "clinic-a", "other-kind", kind="something-new", details={})

    page = browser_client.get("/app/inbox").text

    assert "HPO release 2026-02-16 cannot place HP:0025237 of other-kind</h3>" in page


def test_marking_a_notice_needs_a_notice_number(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    answer = browser_client.post("/app/inbox/seen", data={"csrf_token": csrf, "notice": "x1"})
    assert answer.status_code == 400
    assert "notice number" in answer.text


def client_unseen(client: TestClient, owner: str) -> int:
    count: int = client.portal.call(node_of(client).notices.unseen_count, owner)  # type: ignore[union-attr]
    return count
