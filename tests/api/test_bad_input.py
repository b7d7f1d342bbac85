"""Input that once crashed the node (500) is now a 4xx with a JSON message, and logs no trace."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from api_samples import Tokens, patient_json
from starlette.testclient import TestClient
from starlette.types import Message

MME = "application/vnd.ga4gh.matchmaker.v1.0+json"
NESTED = b'{"patient": ' + b"[" * 1000 + b"]" * 1000 + b"}"


def assert_client_error(answer: Any, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    assert words in answer.json()["message"]


def test_offset_past_any_integer_column_is_400(client: TestClient, tokens: Tokens) -> None:
    answer = client.get(
        "/api/patients?offset=9223372036854775808", headers={"X-Auth-Token": tokens.submitter}
    )
    assert_client_error(answer, 400, "offset must be at least 0 and at most")


@pytest.mark.parametrize(
    ("path", "token_role", "content_type"),
    [("/match", "peer", MME), ("/api/patients", "submitter", "application/json")],
)
def test_json_nested_1000_deep_is_400(
    client: TestClient, tokens: Tokens, path: str, token_role: str, content_type: str
) -> None:
    headers = {"X-Auth-Token": getattr(tokens, token_role), "Content-Type": content_type}
    answer = client.post(path, content=NESTED, headers=headers)
    assert_client_error(answer, 400, "nested deeper than")


def test_integer_over_4300_digits_is_400(client: TestClient, tokens: Tokens) -> None:
    body = b'{"patient": {"id": "x", "sex": ' + b"9" * 4301 + b"}}"
    headers = {"X-Auth-Token": tokens.peer, "Content-Type": MME}
    assert_client_error(client.post("/match", content=body, headers=headers), 400, "not valid JSON")


def test_match_patient_id_with_a_lone_surrogate_is_400(client: TestClient, tokens: Tokens) -> None:
    body = json.dumps({"patient": patient_json("\ud800")}).encode()
    headers = {"X-Auth-Token": tokens.peer, "Content-Type": MME}
    answer = client.post("/match", content=body, headers=headers)
    assert_client_error(answer, 400, "unpaired surrogate")
    assert answer.headers["content-type"].startswith("application/vnd.ga4gh.matchmaker")


def test_if_match_with_a_non_ascii_digit_is_400(client: TestClient, tokens: Tokens) -> None:
    headers = {"X-Auth-Token": tokens.submitter}
    client.post("/api/patients", json={"patient": patient_json("P1")}, headers=headers)
    answer = client.post(
        "/api/patients",
        json={"patient": patient_json("P1")},
        headers={**headers, "If-Match": b"\xb9"},  # type: ignore[dict-item]
    )
    assert_client_error(answer, 400, "If-Match header must be a patient version")


def test_if_match_with_a_version_tag_still_works(client: TestClient, tokens: Tokens) -> None:
    headers = {"X-Auth-Token": tokens.submitter}
    client.post("/api/patients", json={"patient": patient_json("P1")}, headers=headers)
    answer = client.post(
        "/api/patients",
        json={"patient": patient_json("P1")},
        headers={**headers, "If-Match": 'W/"1"'},
    )
    assert answer.status_code == 200
    assert answer.headers["etag"] == '"2"'


def test_405_allows_every_method_of_the_path(client: TestClient, tokens: Tokens) -> None:
    answer = client.put("/api/patients", headers={"X-Auth-Token": tokens.submitter})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD, POST"


def test_aborted_upload_logs_one_info_line_and_no_error(
    client: TestClient, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"patient": {"id": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/patients",
        "raw_path": b"/api/patients",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.9", 5000),
        "server": ("testserver", 80),
        "headers": [
            (b"x-auth-token", tokens.submitter.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"5000"),
        ],
    }

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        pass

    assert client.portal is not None
    with caplog.at_level(logging.INFO):
        client.portal.call(client.app, scope, receive, send)
    about_it = [r for r in caplog.records if "/api/patients" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in about_it] == [(logging.INFO, None)]
    assert "hung up" in about_it[0].getMessage()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"features": [{"id": "HP:0000001"}]}, "patient.features[0].id: HP:0000001 (All)"),
        ({"features": [{"id": "HP:0000118"}]}, "patient.features[0].id: HP:0000118"),
        ({"features": [{"id": "HP:0000006"}]}, "patient.features[0].id: HP:0000006"),
        ({"ageOfOnset": "HP:0001250"}, "patient.ageOfOnset: HP:0001250 (Seizure)"),
        ({"inheritanceMode": "HP:0001250"}, "patient.inheritanceMode: HP:0001250"),
    ],
)
def test_terms_that_mean_nothing_where_they_stand_are_422(
    client: TestClient, tokens: Tokens, changes: dict[str, Any], field: str
) -> None:
    answer = client.post(
        "/api/patients",
        json={"patient": patient_json("P1", **changes)},
        headers={"X-Auth-Token": tokens.submitter},
    )
    assert_client_error(answer, 422, field)


def test_match_query_ignores_terms_from_the_wrong_branch(
    client: TestClient, tokens: Tokens
) -> None:
    client.post(
        "/api/patients",
        json={"patient": patient_json("P1")},
        headers={"X-Auth-Token": tokens.submitter},
    )
    query = patient_json(
        "Q1",
        contact={"name": "Peer", "href": "https://peer.example.org"},
        features=[{"id": "HP:0000001"}, {"id": "HP:0000006"}, {"id": "HP:0001250"}],
        inheritanceMode="HP:0001250",
    )
    headers = {"X-Auth-Token": tokens.peer, "Content-Type": MME}
    answer = client.post("/match", content=json.dumps({"patient": query}), headers=headers)
    assert answer.status_code == 200
    assert len(answer.json()["results"]) == 1  # P1, under its pseudonym for this peer
    only_meaningless = {**query, "features": [{"id": "HP:0000001"}], "genomicFeatures": []}
    refused = client.post(
        "/match", content=json.dumps({"patient": only_meaningless}), headers=headers
    )
    assert_client_error(refused, 422, "is not a phenotypic feature")
