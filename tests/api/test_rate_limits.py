"""The node's rate limits over HTTP: failed authentications per address, /match per token."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from api_samples import Tokens, patient_json
from starlette.testclient import TestClient

from mme_node.app import create_app
from mme_node.settings import Settings

MME = "application/vnd.ga4gh.matchmaker.v1.0+json"


@pytest.fixture
def strict_client(node_settings: Settings, tokens: Tokens) -> Iterator[TestClient]:
    settings = node_settings.replace(rate_limit_failed_auth=3, rate_limit_match=4)
    with TestClient(create_app(settings)) as client:
        yield client


def test_wrong_tokens_get_429_with_retry_after_and_are_logged_without_the_token(
    strict_client: TestClient, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        answers = [
            strict_client.get("/heartbeat", headers={"X-Auth-Token": f"guess-{i:04d}"})
            for i in range(5)
        ]
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    assert int(answers[-1].headers["retry-after"]) > 0
    assert "failed authentications" in answers[-1].json()["message"]
    # A valid token from the same address waits too: guessing is not confirmed.
    valid = strict_client.get("/heartbeat", headers={"X-Auth-Token": tokens.peer})
    assert valid.status_code == 429
    failures = [r.getMessage() for r in caplog.records if "failed authentication" in r.getMessage()]
    assert len(failures) == 3
    assert all("testclient" in m and "/heartbeat" in m for m in failures)
    assert not any("guess-" in r.getMessage() for r in caplog.records)


def test_match_over_the_limit_is_429_in_the_mme_media_type(
    strict_client: TestClient, tokens: Tokens
) -> None:
    body = {"patient": patient_json("Q1", contact={"name": "Peer", "href": "https://p.org"})}
    headers = {"X-Auth-Token": tokens.peer, "Content-Type": MME, "Accept": MME}
    answers = [strict_client.post("/match", json=body, headers=headers) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert answers[-1].headers["retry-after"] == "15"
    assert answers[-1].headers["content-type"].startswith("application/vnd.ga4gh.matchmaker")
    # The submitter API is not a /match: its limit is the peer's only.
    listing = strict_client.get("/api/patients", headers={"X-Auth-Token": tokens.submitter})
    assert listing.status_code == 200
