"""/openapi.json: every route described, every description a route, schemas that hold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_samples import Tokens, patient_json
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.routing import Route
from starlette.testclient import TestClient

from mme_node.api.openapi import openapi_document
from mme_node.app import create_app
from mme_node.formats.schemas import dump_patient, load_patient
from mme_node.settings import load_settings
from mme_node.vocabulary.genes import bundled_gene_index
from mme_node.vocabulary.normalise import normalise_patient

DOCUMENT = "urn:mme-node:openapi"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}

FULL_PATIENT: dict[str, Any] = {
    "id": "P1",
    "label": "proband 1",
    "contact": {
        "name": "Dr. Example",
        "institution": "Example Children's Hospital",
        "href": "mailto:dr.example@example.org",
        "email": "dr.example@example.org",
        "roles": ["clinician"],
    },
    "species": "NCBITaxon:9606",
    "sex": "FEMALE",
    "ageOfOnset": "HP:0003577",
    "inheritanceMode": "HP:0000006",
    "disorders": [{"id": "MIM:607208", "label": "Dravet syndrome"}],
    "features": [
        {"id": "HP:0001250", "label": "Seizure", "observed": "yes", "ageOfOnset": "HP:0003593"},
        {"id": "HP:0004715", "observed": "no"},
    ],
    "genomicFeatures": [
        {
            "gene": {"id": "ENSG00000144285"},
            "variant": {
                "assembly": "GRCh37.p13",
                "referenceName": "2",
                "start": 166848645,
                "end": 166848646,
                "referenceBases": "G",
                "alternateBases": "A",
            },
            "zygosity": 1,
            "type": {"id": "SO:0001583", "label": "missense_variant"},
        }
    ],
    "test": True,
}


def routes_of_the_app() -> set[tuple[str, str]]:
    app = create_app(load_settings(environ={}))
    return {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


def described_operations() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def validator_of(component: str) -> Draft202012Validator:
    """A validator of one component schema, its ``$ref``s resolved inside the document."""
    resource = Resource.from_contents(openapi_document(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOCUMENT, resource)
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT}#/components/schemas/{component}"}, registry=registry
    )


def test_every_route_is_described() -> None:
    assert routes_of_the_app() - described_operations() == set()


def test_every_described_operation_is_a_route() -> None:
    assert described_operations() - routes_of_the_app() == set()


def test_every_reference_points_into_the_document() -> None:
    document = openapi_document()
    text = json.dumps(document)
    for name in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
        assert name in document["components"]["schemas"]


OPEN_PATHS = {"/openapi.json", "/health", "/"}
"""The only paths anyone may call without a token (``/`` redirects to the web app)."""


def test_every_operation_needing_a_token_declares_it_and_its_401() -> None:
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if path in OPEN_PATHS:
                assert "security" not in operation, (path, method)
                continue
            assert operation["security"] == [{"token": []}], (path, method)
            assert "401" in operation["responses"], (path, method)


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_patient_schema_accepts_a_dumped_patient(version: str) -> None:
    patient, _ = load_patient(FULL_PATIENT)
    document = dump_patient(patient, version)
    validator_of("Patient").validate(document)


def test_patient_schema_accepts_a_normalised_patient_with_its_underscore_fields(
    bundled_release: Any,
) -> None:
    patient, _ = load_patient(FULL_PATIENT)
    normalised, _ = normalise_patient(patient, bundled_release.ontology, bundled_gene_index())
    document = dump_patient(normalised, "1.1")
    assert "_submittedId" in document["features"][1]
    validator_of("Patient").validate(document)


def test_patient_schema_rejects_what_the_api_rejects() -> None:
    validator = validator_of("Patient")
    assert not validator.is_valid({"id": "P1"})
    assert not validator.is_valid({**FULL_PATIENT, "sex": "unknown"})
    assert not validator.is_valid({**FULL_PATIENT, "unexpected": 1})
    assert validator.is_valid({**FULL_PATIENT, "_nonStandard": 1})


def test_match_answer_fits_the_match_response_schema(client: TestClient, tokens: Tokens) -> None:
    client.post(
        "/api/patients",
        json={"patient": patient_json("P1")},
        headers={"X-Auth-Token": tokens.submitter},
    )
    answer = client.post(
        "/match",
        json={"patient": patient_json("Q1", contact={"name": "Peer", "href": "https://p.org"})},
        headers={"X-Auth-Token": tokens.peer},
    )
    body = answer.json()
    assert len(body["results"]) == 1
    validator_of("MatchResponse").validate(body)


def test_openapi_json_is_served_without_a_token(client: TestClient) -> None:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.json()["paths"].keys() == openapi_document()["paths"].keys()


def test_submitter_match_answers_fit_their_schemas(client: TestClient, tokens: Tokens) -> None:
    headers = {"X-Auth-Token": tokens.submitter}
    for patient_id in ("P1", "P2"):
        client.post("/api/patients", json={"patient": patient_json(patient_id)}, headers=headers)
    local = client.post("/api/patients/P1/match", headers=headers)
    assert len(local.json()["results"]) == 1
    validator_of("LocalMatchResults").validate(local.json())
    external = client.post("/api/patients/P1/match/external", headers=headers)
    validator_of("PeerOutcomes").validate(external.json())
    history = client.get("/api/patients/P1/matches", headers=headers)
    assert history.json()["matches"]
    validator_of("MatchHistory").validate(history.json())
