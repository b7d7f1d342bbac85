"""The submitter API: /api/patients."""

from __future__ import annotations

from typing import Any

import pytest
from api_samples import Tokens, patient_json
from starlette.testclient import TestClient


def submit(client: TestClient, token: str, patient: Any, **headers: str) -> Any:
    return client.post(
        "/api/patients", json={"patient": patient}, headers={"X-Auth-Token": token, **headers}
    )


def test_create_returns_201_with_normalised_patient(client: TestClient, tokens: Tokens) -> None:
    answer = submit(
        client, tokens.submitter, patient_json(genomicFeatures=[{"gene": {"id": "MLL2"}}])
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["version"] == 1
    assert body["hpoRelease"] == "2025-01-16"
    assert body["patient"]["genomicFeatures"][0]["gene"]["_hgncId"] == "HGNC:7133"
    assert answer.headers["etag"] == '"1"'


def test_replace_returns_200_and_bumps_version(client: TestClient, tokens: Tokens) -> None:
    submit(client, tokens.submitter, patient_json())
    answer = submit(client, tokens.submitter, patient_json(label="renamed"))
    assert answer.status_code == 200
    assert answer.json()["version"] == 2
    assert (
        client.get("/api/patients/P1", headers={"X-Auth-Token": tokens.submitter}).json()[
            "patient"
        ]["label"]
        == "renamed"
    )


def test_stale_if_match_is_409_and_changes_nothing(client: TestClient, tokens: Tokens) -> None:
    submit(client, tokens.submitter, patient_json())
    submit(client, tokens.submitter, patient_json(label="second"))
    stale = submit(client, tokens.submitter, patient_json(label="third"), **{"If-Match": '"1"'})
    assert stale.status_code == 409
    assert "version" in stale.json()["message"]
    stored = client.get("/api/patients/P1", headers={"X-Auth-Token": tokens.submitter}).json()
    assert stored["patient"]["label"] == "second"


def test_if_none_match_star_creates_a_new_patient(client: TestClient, tokens: Tokens) -> None:
    answer = submit(client, tokens.submitter, patient_json(), **{"If-None-Match": "*"})
    assert answer.status_code == 201
    assert answer.json()["version"] == 1


def test_if_none_match_star_on_an_existing_patient_is_409_and_changes_nothing(
    client: TestClient, tokens: Tokens
) -> None:
    submit(client, tokens.submitter, patient_json(label="first"))
    again = submit(client, tokens.submitter, patient_json(label="second"), **{"If-None-Match": "*"})
    assert again.status_code == 409
    assert "already exists" in again.json()["message"]
    stored = client.get("/api/patients/P1", headers={"X-Auth-Token": tokens.submitter}).json()
    assert (stored["patient"]["label"], stored["version"]) == ("first", 1)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"If-None-Match": '"1"'}, "If-None-Match header must be *"),
        ({"If-None-Match": "*", "If-Match": '"1"'}, "If-None-Match: * (create)"),
    ],
)
def test_if_none_match_other_than_star_alone_is_400(
    client: TestClient, tokens: Tokens, headers: dict[str, str], message: str
) -> None:
    answer = submit(client, tokens.submitter, patient_json(), **headers)
    assert answer.status_code == 400
    assert message in answer.json()["message"]


def test_alt_id_is_normalised_and_submitted_id_kept(client: TestClient, tokens: Tokens) -> None:
    # HP:0004715 is an alt_id of HP:0000003 (Multicystic kidney dysplasia) in HPO 2025-01-16.
    answer = submit(client, tokens.submitter, patient_json(features=[{"id": "HP:0004715"}]))
    feature = answer.json()["patient"]["features"][0]
    assert feature["id"] == "HP:0000003"
    assert feature["_submittedId"] == "HP:0004715"


def test_a_term_newer_than_the_release_is_stored_pending_with_a_warning(
    client: TestClient, tokens: Tokens
) -> None:
    features = [{"id": "HP:0001250"}, {"id": "HP:0025834"}]  # HP:0025834 is newer than 2025-01-16
    answer = submit(client, tokens.submitter, patient_json(features=features))
    assert answer.status_code == 201
    body = answer.json()
    assert body["patient"]["features"][1] == {
        "id": "HP:0025834",
        "observed": "yes",
        "_pending": True,
    }
    assert any(w.startswith("patient.features[1].id: unknown HPO term") for w in body["warnings"])


def test_a_malformed_term_is_422_naming_field_and_stores_nothing(
    client: TestClient, tokens: Tokens
) -> None:
    answer = submit(client, tokens.submitter, patient_json(features=[{"id": "HP:99999"}]))
    assert answer.status_code == 422
    assert "features[0]" in answer.json()["message"]
    assert "HP:99999" in answer.json()["message"]
    listing = client.get("/api/patients", headers={"X-Auth-Token": tokens.submitter}).json()
    assert listing["total"] == 0


def test_missing_contact_is_422_naming_contact(client: TestClient, tokens: Tokens) -> None:
    patient = patient_json()
    del patient["contact"]
    answer = submit(client, tokens.submitter, patient)
    assert answer.status_code == 422
    assert "contact" in answer.json()["message"]


def test_body_without_patient_is_422(client: TestClient, tokens: Tokens) -> None:
    answer = client.post(
        "/api/patients", json={"case": {}}, headers={"X-Auth-Token": tokens.submitter}
    )
    assert answer.status_code == 422
    assert "patient" in answer.json()["message"]


def test_malformed_json_is_400(client: TestClient, tokens: Tokens) -> None:
    answer = client.post(
        "/api/patients",
        content=b'{"patient": {',
        headers={"X-Auth-Token": tokens.submitter, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert "JSON" in answer.json()["message"]


def test_wrong_content_type_is_415(client: TestClient, tokens: Tokens) -> None:
    answer = client.post(
        "/api/patients",
        content=b"id=P1",
        headers={"X-Auth-Token": tokens.submitter, "Content-Type": "text/plain"},
    )
    assert answer.status_code == 415
    assert "application/json" in answer.json()["message"]


def test_body_over_limit_is_413_before_reading_it(client: TestClient, tokens: Tokens) -> None:
    huge = patient_json(label="x" * (1024 * 1024 + 10))
    answer = submit(client, tokens.submitter, huge)
    assert answer.status_code == 413
    assert "1048576" in answer.json()["message"]


def test_missing_token_is_401_and_unknown_token_is_401(client: TestClient) -> None:
    assert client.get("/api/patients").status_code == 401
    answer = client.get("/api/patients", headers={"X-Auth-Token": "not-a-real-token"})
    assert answer.status_code == 401
    assert "message" in answer.json()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_peer_token_cannot_use_submitter_api(
    client: TestClient, tokens: Tokens, method: str
) -> None:
    answer = client.request(
        method,
        "/api/patients",
        json={"patient": patient_json()},
        headers={"X-Auth-Token": tokens.peer},
    )
    assert answer.status_code == 403
    assert "submitter" in answer.json()["message"]


def test_submitters_see_only_their_own_patients(client: TestClient, tokens: Tokens) -> None:
    submit(client, tokens.submitter, patient_json("P1"))
    submit(client, tokens.other_submitter, patient_json("P1", label="other clinic's P1"))
    mine = client.get("/api/patients/P1", headers={"X-Auth-Token": tokens.submitter}).json()
    theirs = client.get("/api/patients/P1", headers={"X-Auth-Token": tokens.other_submitter}).json()
    assert "label" not in mine["patient"]
    assert theirs["patient"]["label"] == "other clinic's P1"


def test_list_is_paged_and_ordered_by_id(client: TestClient, tokens: Tokens) -> None:
    for patient_id in ["P3", "P1", "P2"]:
        submit(client, tokens.submitter, patient_json(patient_id))
    page = client.get(
        "/api/patients?offset=1&limit=1", headers={"X-Auth-Token": tokens.submitter}
    ).json()
    assert page["total"] == 3
    assert [p["patient"]["id"] for p in page["patients"]] == ["P2"]


def test_bad_paging_parameter_is_400_naming_it(client: TestClient, tokens: Tokens) -> None:
    answer = client.get("/api/patients?limit=lots", headers={"X-Auth-Token": tokens.submitter})
    assert answer.status_code == 400
    assert "limit" in answer.json()["message"]


def test_delete_then_get_is_404(client: TestClient, tokens: Tokens) -> None:
    submit(client, tokens.submitter, patient_json())
    headers = {"X-Auth-Token": tokens.submitter}
    assert client.delete("/api/patients/P1", headers=headers).status_code == 200
    assert client.get("/api/patients/P1", headers=headers).status_code == 404
    assert client.delete("/api/patients/P1", headers=headers).status_code == 404


def test_health_needs_no_token_and_reveals_no_data(client: TestClient) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_health_never_counts_the_patients(
    client: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anyone may ask /health as often as they like: a count grows with the store.
    submit(client, tokens.submitter, patient_json())

    async def counted() -> int:
        raise AssertionError("/health counted the patients")

    monkeypatch.setattr(client.app.state.node.store, "count", counted)  # type: ignore[attr-defined]
    answer = client.get("/health")
    assert answer.status_code == 200, answer.text


def test_health_is_503_when_the_store_is_down(client: TestClient) -> None:
    assert client.portal is not None
    client.portal.call(client.app.state.node.store.close)  # type: ignore[attr-defined]
    answer = client.get("/health")
    assert answer.status_code == 503
    assert answer.json() == {"status": "store unavailable"}


# ---------------------------------------------------------------- consent


def submit_with_consent(client: TestClient, token: str, patient: Any, consent: Any) -> Any:
    return client.post(
        "/api/patients",
        json={"patient": patient, "consent": consent},
        headers={"X-Auth-Token": token},
    )


def test_a_submitted_consent_is_stored_and_shown_with_the_patient(
    client: TestClient, tokens: Tokens
) -> None:
    consent = {
        "sharing": "countries",
        "countries": ["GB"],
        "disclosure": "phenotype",
        "dataUse": [{"id": "DUO:0000042"}],
    }

    created = submit_with_consent(client, tokens.submitter, patient_json(), consent)
    read = client.get("/api/patients/P1", headers={"X-Auth-Token": tokens.submitter})

    expected = consent | {
        "dataUse": [{"id": "DUO:0000042", "label": "general research use"}],
        "default": False,
    }
    assert created.status_code == 201
    assert created.json()["consent"] == expected
    assert read.json()["consent"] == expected


def test_a_patient_without_consent_shows_the_node_default_as_such(
    client: TestClient, tokens: Tokens
) -> None:
    answer = submit(client, tokens.submitter, patient_json())

    assert answer.json()["consent"] == {"sharing": "all", "disclosure": "genes", "default": True}


def test_a_replace_without_consent_goes_back_to_the_default(
    client: TestClient, tokens: Tokens
) -> None:
    submit_with_consent(
        client, tokens.submitter, patient_json(), {"sharing": "local", "disclosure": "contact"}
    )

    replaced = submit(client, tokens.submitter, patient_json())

    assert replaced.json()["consent"]["default"] is True


def test_a_bad_consent_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, tokens: Tokens
) -> None:
    answer = submit_with_consent(
        client, tokens.submitter, patient_json(), {"sharing": "countries", "disclosure": "genes"}
    )

    assert answer.status_code == 422
    assert answer.json()["message"].startswith("consent.countries:")
    listed = client.get("/api/patients", headers={"X-Auth-Token": tokens.submitter})
    assert listed.json()["total"] == 0


def test_a_misspelt_consent_field_is_refused_not_ignored(
    client: TestClient, tokens: Tokens
) -> None:
    answer = client.post(
        "/api/patients",
        json={"patient": patient_json(), "consnet": {"sharing": "local"}},
        headers={"X-Auth-Token": tokens.submitter},
    )

    assert answer.status_code == 422
    assert "consnet" in answer.json()["message"]


def test_an_id_with_a_slash_is_refused_at_submission(client: TestClient, tokens: Tokens) -> None:
    answer = submit(client, tokens.submitter, patient_json("ward/7"))

    assert answer.status_code == 422
    assert "patient.id" in answer.json()["message"]
