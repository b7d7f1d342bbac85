"""A patient's match history on its page, over plain HTTP: newest first, a page at a time.

The matches are recorded through the history service of the module's node,
as the matching services record them.
"""

from __future__ import annotations

import datetime
import re

from starlette.testclient import TestClient

from mme_node.node import Node
from mme_node.services.history import HISTORY_PAGE_SIZE, RecordedMatch
from tests.web.conftest import WebTokens, case, sign_in

SENT_TO = re.compile(r"Sent to <strong>(peer-\d+)</strong>")
OLDER = re.compile(r'href="(/app/patients/paged\?before=\d+#history-heading)"[^>]*>Older matches')
NEWEST = re.compile(r'href="(/app/patients/paged#history-heading)"[^>]*>← Newest matches')


def record_sent(client: TestClient, patient_id: str, peers: list[str]) -> None:
    """One outbound match of clinic-a's patient per peer, in that order (oldest first)."""
    node: Node = client.app.state.node  # type: ignore[attr-defined]
    now = datetime.datetime.now(datetime.UTC)
    matches = [
        RecordedMatch(
            direction="outbound",
            peer=peer,
            created=now,
            query_patient_id=patient_id,
            test=False,
            owner="clinic-a",
            patient_id=patient_id,
        )
        for peer in peers
    ]
    client.portal.call(node.history.record_many, matches)  # type: ignore[union-attr]


def test_the_history_shows_the_newest_matches_and_links_to_older_ones(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    browser_client.post("/app/patients/new", data=case("paged", csrf_token=csrf))
    peers = [f"peer-{n}" for n in range(HISTORY_PAGE_SIZE + 1)]
    record_sent(browser_client, "paged", peers)

    first = browser_client.get("/app/patients/paged").text
    older = OLDER.search(first)

    assert SENT_TO.findall(first) == peers[:0:-1]  # the newest page: all but the oldest
    assert older and not NEWEST.search(first)
    second = browser_client.get(older[1]).text
    assert SENT_TO.findall(second) == ["peer-0"]
    assert NEWEST.search(second) and not OLDER.search(second)


def test_a_bad_history_cursor_is_refused_by_name(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    browser_client.post("/app/patients/new", data=case("cursor", csrf_token=csrf))
    for before in ("-1", "0", "abc", str(2**63), "9" * 5000):
        answer = browser_client.get(f"/app/patients/cursor?before={before}")
        assert answer.status_code == 400 and "before must be a match number" in answer.text
    # The API's bound: SQLite's largest integer is a cursor (the newest page), 19 digits.
    assert browser_client.get(f"/app/patients/cursor?before={2**63 - 1}").status_code == 200
