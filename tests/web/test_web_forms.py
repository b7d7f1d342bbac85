"""The case form over plain HTTP: stale edits, taken ids, consent kept and given.

The same in-process node and cookie-keeping client as ``test_web_security``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from starlette.testclient import TestClient

from mme_node.model import PatientRecord
from mme_node.security.audit import AuditEvent
from tests.web.conftest import WebTokens, case, sign_in


def api_record(client: TestClient, token: str, patient_id: str) -> dict[str, object]:
    answer = client.get(f"/api/patients/{patient_id}", headers={"X-Auth-Token": token})
    assert answer.status_code == 200, answer.text
    record: dict[str, object] = answer.json()
    return record


def test_a_stale_edit_is_refused_with_the_current_version_and_can_then_be_saved(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    browser_client.post("/app/patients/new", data=case("stale", csrf_token=csrf))
    edit = case("stale", csrf_token=csrf, label="mine", version="1")
    contact = {"name": "X", "href": "mailto:x@example.org"}
    theirs = {
        "id": "stale",
        "label": "theirs",
        "contact": contact,
        "features": [{"id": "HP:0001250"}],
    }
    api_change = {"patient": theirs}
    browser_client.post(
        "/api/patients", json=api_change, headers={"X-Auth-Token": web_tokens.clinic_a}
    )
    refused = browser_client.post("/app/patients/stale/edit", data=edit)
    assert refused.status_code == 409
    assert "it is now version 2" in refused.text
    assert 'name="version" value="2"' in refused.text
    stored = browser_client.get(
        "/api/patients/stale", headers={"X-Auth-Token": web_tokens.clinic_a}
    )
    assert stored.json()["patient"]["label"] == "theirs"
    saved = browser_client.post("/app/patients/stale/edit", data=edit | {"version": "2"})
    assert saved.status_code == 303
    stored = browser_client.get(
        "/api/patients/stale", headers={"X-Auth-Token": web_tokens.clinic_a}
    )
    assert (stored.json()["patient"]["label"], stored.json()["version"]) == ("mine", 3)


def test_a_new_case_with_an_id_already_taken_is_refused_at_the_id(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    browser_client.post("/app/patients/new", data=case("taken", csrf_token=csrf))
    again = browser_client.post(
        "/app/patients/new", data=case("taken", csrf_token=csrf, label="other")
    )
    assert again.status_code == 409
    assert 'id="id-error"' in again.text


def test_of_two_new_cases_saved_at_once_with_one_id_the_second_is_refused_not_saved_over(
    browser_client: TestClient, web_tokens: WebTokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other tab's save lands after the form was read and checked, just before ours."""
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    store = browser_client.app.state.node.store  # type: ignore[attr-defined]
    save = store.save

    async def other_tab_first(record: PatientRecord, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(store, "save", save)
        theirs = dataclasses.replace(record.patient, label="other tab")
        await save(dataclasses.replace(record, patient=theirs))
        return await save(record, *args, **kwargs)

    monkeypatch.setattr(store, "save", other_tab_first)
    refused = browser_client.post(
        "/app/patients/new", data=case("raced", csrf_token=csrf, label="this tab")
    )

    assert refused.status_code == 409
    assert 'id="id-error"' in refused.text and "already have a patient" in refused.text
    stored = api_record(browser_client, web_tokens.clinic_a, "raced")
    assert (stored["patient"]["label"], stored["version"]) == ("other tab", 1)  # type: ignore[index]


def test_a_case_given_a_consent_in_the_form_is_stored_with_it(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    form = case(
        "with-consent",
        csrf_token=csrf,
        consent_sharing="countries",
        consent_countries="gb, fr",
        consent_disclosure="phenotype",
    )
    assert browser_client.post("/app/patients/new", data=form).status_code == 303
    consent = api_record(browser_client, web_tokens.clinic_a, "with-consent")["consent"]
    assert consent == {
        "sharing": "countries",
        "countries": ["GB", "FR"],
        "disclosure": "phenotype",
        "default": False,
    }


def test_a_consent_the_api_refuses_is_refused_beside_its_field(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    form = case("bad-consent", csrf_token=csrf, consent_sharing="all", consent_disclosure="")
    answer = browser_client.post("/app/patients/new", data=form)
    assert answer.status_code == 422
    assert 'id="consent_disclosure-error"' in answer.text


def test_editing_a_case_keeps_its_consent_and_data_use_codes(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    headers = {"X-Auth-Token": web_tokens.clinic_a}
    patient = {
        "id": "keeps-consent",
        "contact": {"name": "Dr A", "href": "mailto:a@example.org"},
        "features": [{"id": "HP:0001250"}],
    }
    consent = {"sharing": "local", "disclosure": "genes", "dataUse": [{"id": "DUO:0000042"}]}
    stored = browser_client.post(
        "/api/patients", json={"patient": patient, "consent": consent}, headers=headers
    )
    assert stored.status_code == 201, stored.text
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    page = browser_client.get("/app/patients/keeps-consent/edit").text
    assert '<option value="local" selected>' in page and "DUO:0000042" in page
    form = case(
        "keeps-consent",
        csrf_token=csrf,
        label="edited",
        version="1",
        consent_sharing="local",
        consent_disclosure="genes",
    )
    assert browser_client.post("/app/patients/keeps-consent/edit", data=form).status_code == 303
    record = api_record(browser_client, web_tokens.clinic_a, "keeps-consent")
    assert record["consent"] == {
        "sharing": "local",
        "disclosure": "genes",
        "dataUse": [{"id": "DUO:0000042", "label": "general research use"}],
        "default": False,
    }


def test_deleting_a_case_in_the_app_is_an_erasure_in_the_audit_log(
    browser_client: TestClient, web_tokens: WebTokens
) -> None:
    csrf = sign_in(browser_client, web_tokens.clinic_a)
    browser_client.post("/app/patients/new", data=case("to-erase", csrf_token=csrf))

    deleted = browser_client.post("/app/patients/to-erase/delete", data={"csrf_token": csrf})

    assert deleted.status_code == 303
    missing = browser_client.get(
        "/api/patients/to-erase", headers={"X-Auth-Token": web_tokens.clinic_a}
    )
    assert missing.status_code == 404
    node = browser_client.app.state.node  # type: ignore[attr-defined]
    (erasure,) = browser_client.portal.call(lambda: node.audit.entries(event=AuditEvent.ERASURE))
    assert erasure.document["actor"].startswith("web:")
