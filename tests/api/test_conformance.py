"""Conformance: everything the node says over the MME API passes a schema written from the spec.

The schema (``mme_api_schema.py``) is written from ga4gh/mme-apis, independently
of the node's own validation, plus the two rules deployed nodes enforce
(chromosome ``M``, disorders ``MIM:``/``Orphanet:``). The node holds patients
that use every optional field, including the spellings deployed nodes refuse
(``MT``, ``OMIM:``, ``ORPHA:``, a MONDO disorder), and is checked on:

* every ``/match`` answer, for requests written in v1.0, v1.1 and v1.2 (a
  newer minor version), against the schema of the version it answers in;
* every error answer of ``/match`` (401, 400, 406, 413, 415, 422);
* ``/heartbeat`` and ``/metrics``;
* every outbound request it sends to peers speaking v1.0 and v1.1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from api_samples import Tokens
from mme_api_schema import (
    ERROR_SCHEMA,
    HEARTBEAT_SCHEMA,
    METRICS_SCHEMA,
    VERSION_ERROR_SCHEMA,
    Schema,
    match_request_schema,
    match_response_schema,
)
from starlette.testclient import TestClient

from mme_node.app import create_app
from mme_node.peers import PeerRegistry
from mme_node.security import Role, TokenRegistry
from mme_node.settings import load_settings
from tests.peers.fault_peers import FaultPeerServer

PEER_VERSIONS = ("1.0", "1.1")
MME_TYPE = re.compile(r"application/vnd\.ga4gh\.matchmaker\.v(\d+\.\d+)\+json")


def media_type(version: str) -> str:
    return f"application/vnd.ga4gh.matchmaker.v{version}+json"


def full_patient(patient_id: str, **changes: Any) -> dict[str, Any]:
    """A patient using every optional field, in spellings deployed nodes would refuse as sent."""
    patient = {
        "id": patient_id,
        "label": f"case {patient_id}",
        "contact": {
            "name": "Dr. Full Example",
            "institution": "Example Children's Hospital",
            "href": "mailto:full@example.org",
            "email": "full@example.org",
            "roles": ["clinician", "researcher"],
        },
        "species": "NCBITaxon:9606",
        "sex": "FEMALE",
        "ageOfOnset": "HP:0003593",
        "inheritanceMode": "HP:0000006",
        "disorders": [
            {"id": "OMIM:607208", "label": "Dravet syndrome"},
            {"id": "ORPHA:33069"},
            {"id": "MONDO:0100135", "label": "Dravet syndrome"},
        ],
        "features": [
            {"id": "HP:0001250", "label": "Seizure", "observed": "yes", "ageOfOnset": "HP:0003593"},
            {"id": "HP:0001263", "label": "Global developmental delay"},
            {"id": "HP:0000252", "label": "Microcephaly", "observed": "no"},
        ],
        "genomicFeatures": [
            {
                "gene": {"id": "ENSG00000144285"},
                "variant": {
                    "assembly": "GRCh37.p13",
                    "referenceName": "chr2",
                    "start": 166848000,
                    "end": 166848001,
                    "referenceBases": "G",
                    "alternateBases": "A",
                },
                "zygosity": 1,
                "type": {"id": "SO:0001583", "label": "MISSENSE"},
            },
            {
                "gene": {"id": "MT-TL1"},
                "variant": {
                    "assembly": "GRCh38",
                    "referenceName": "MT",
                    "start": 3242,
                    "end": 3243,
                    "referenceBases": "A",
                    "alternateBases": "G",
                },
                "zygosity": 2,
            },
        ],
        "test": False,
    }
    return patient | changes


def conforms(document: object, schema: Schema) -> None:
    """Fail with every violation (path and reason), not only the first."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
    assert not problems, "\n".join(problems)


def answered_version(answer: httpx.Response) -> str:
    found = MME_TYPE.fullmatch(answer.headers["content-type"])
    assert found, f"not an MME media type: {answer.headers['content-type']}"
    return found.group(1)


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory,
    shared_hpo_dir: Path,
    fault_peers: FaultPeerServer,
) -> Iterator[tuple[TestClient, Tokens]]:
    """One node for the module: two real and one test patient using every optional field,
    shared in full with every peer, one real patient whose consent shows only its contact,
    and one recording peer per API version (v1.0, v1.1)."""
    data_dir = tmp_path_factory.mktemp("conformance") / "node-data"
    settings = load_settings(environ={}).replace(
        data_dir=data_dir, hpo_dir_override=shared_hpo_dir, peer_default_disclosure="variants"
    )
    data_dir.mkdir(parents=True)
    with TokenRegistry(settings.database_path) as registry:
        tokens = Tokens(
            submitter=registry.create("clinic-a", Role.SUBMITTER),
            other_submitter=registry.create("clinic-b", Role.SUBMITTER),
            peer=registry.create("peer-node", Role.PEER),
            admin=registry.create("curator", Role.ADMIN),
        )
    peers = PeerRegistry.in_data_dir(data_dir)
    for version in PEER_VERSIONS:
        peers.add(fault_peers.peer(f"record/conformance-{version}", api_version=version))
    with TestClient(create_app(settings)) as client:
        for patient, disclosure in (
            (full_patient("F1"), "variants"),
            (full_patient("F2", sex="MALE", disorders=[{"id": "MIM:607208"}]), "variants"),
            (full_patient("T1", test=True), "variants"),
            (full_patient("C1"), "contact"),
        ):
            consent = {"sharing": "all", "disclosure": disclosure}
            answer = client.post(
                "/api/patients",
                json={"patient": patient, "consent": consent},
                headers={"X-Auth-Token": tokens.submitter},
            )
            assert answer.status_code == 201, answer.text
        yield client, tokens


def ask(client: TestClient, token: str, body: bytes, content_type: str, **headers: str) -> Any:
    return client.post(
        "/match",
        content=body,
        headers={"X-Auth-Token": token, "Content-Type": content_type, **headers},
    )


# ---------------------------------------------------------------- the schema can fail


@pytest.mark.parametrize(
    ("change", "version"),
    [
        ({"referenceName": "MT"}, "1.1"),
        ({"disorders": [{"id": "OMIM:607208"}]}, "1.1"),
        ({"disorders": [{"id": "MONDO:0100135"}]}, "1.1"),
        ({"contact": {"name": "A", "href": "mailto:a@b.org", "email": "a@b.org"}}, "1.0"),
        ({"gender": "FEMALE"}, "1.1"),
    ],
)
def test_the_schema_refuses_what_deployed_nodes_or_the_spec_refuse(
    change: dict[str, Any], version: str
) -> None:
    patient = {
        "id": "X",
        "contact": {"name": "A", "href": "mailto:a@b.org"},
        "features": [{"id": "HP:0001250"}],
    }
    if "referenceName" in change:
        variant = {"assembly": "GRCh38", "referenceName": "MT", "start": 1}
        patient["genomicFeatures"] = [{"gene": {"id": "MT-TL1"}, "variant": variant}]
    else:
        patient |= change
    with pytest.raises(AssertionError):
        conforms({"patient": patient}, match_request_schema(version))


# ---------------------------------------------------------------- inbound answers


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [("1.0", "1.0"), ("1.1", "1.1"), ("1.2", "1.1")],
)
def test_match_answers_conform_in_the_version_they_are_written_in(
    node: tuple[TestClient, Tokens], content_type: str, expected: str
) -> None:
    stored, tokens = node
    query = full_patient("Q1", contact={"name": "Dr. Peer", "href": "https://peer.example.org"})
    for test in (False, True):
        body = json.dumps({"patient": query | {"test": test}}).encode()
        answer = ask(stored, tokens.peer, body, media_type(content_type))
        assert answer.status_code == 200, answer.text
        assert answered_version(answer) == expected
        document = answer.json()
        conforms(document, match_response_schema(expected))
        patients = [result["patient"] for result in document["results"]]
        assert patients, "the conformance check needs results to check"
        chromosomes = {
            g["variant"]["referenceName"] for p in patients for g in p.get("genomicFeatures", ())
        }
        assert "M" in chromosomes
        assert {d["id"] for p in patients for d in p.get("disorders", ())} <= {
            "MIM:607208",
            "Orphanet:33069",
        }


def test_match_answers_keep_other_disorders_as_a_non_standard_field(
    node: tuple[TestClient, Tokens],
) -> None:
    stored, tokens = node
    query = full_patient("Q1", contact={"name": "Dr. Peer", "href": "https://peer.example.org"})
    answer = ask(stored, tokens.peer, json.dumps({"patient": query}).encode(), media_type("1.1"))
    f1_shown_as = shown_as(stored, "F1")
    f1 = next(r["patient"] for r in answer.json()["results"] if r["patient"]["id"] == f1_shown_as)
    assert f1["_otherDisorders"] == [{"id": "MONDO:0100135", "label": "Dravet syndrome"}]
    assert f1["disorders"][0]["_submittedId"] == "OMIM:607208"


def shown_as(client: TestClient, patient_id: str) -> str:
    """The pseudonym the peer-node token is shown for clinic-a's ``patient_id``."""
    pseudonym: str = client.app.state.node.sharing.pseudonyms.pseudonym(  # type: ignore[attr-defined]
        "peer-node", "clinic-a", patient_id
    )
    return pseudonym


def test_a_result_shown_at_contact_level_still_conforms_and_shows_only_the_contact(
    node: tuple[TestClient, Tokens],
) -> None:
    stored, tokens = node
    query = full_patient("Q1", contact={"name": "Dr. Peer", "href": "https://peer.example.org"})
    answer = ask(stored, tokens.peer, json.dumps({"patient": query}).encode(), media_type("1.1"))
    conforms(answer.json(), match_response_schema("1.1"))
    c1 = next(
        r["patient"]
        for r in answer.json()["results"]
        if r["patient"]["id"] == shown_as(stored, "C1")
    )
    assert c1["contact"]["name"] == "Dr. Full Example"
    assert [f["id"] for f in c1["features"]] == ["HP:0000118"]
    assert not {"genomicFeatures", "disorders", "sex", "label", "ageOfOnset"} & set(c1)


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"X-Auth-Token": "", "Content-Type": media_type("1.0")}, None, 401),
        ({"Content-Type": media_type("1.0")}, b'{"patient": {', 400),
        ({"Content-Type": media_type("1.0"), "Accept": media_type("2.0")}, None, 406),
        ({"Content-Type": media_type("2.0"), "Accept": media_type("1.0")}, None, 406),
        ({"Content-Type": "text/plain"}, None, 415),
        ({"Content-Type": media_type("1.0")}, b'{"patient": {"id": "x"}}', 422),
        ({"Content-Type": media_type("1.0")}, b'{"patient": "' + b"x" * 2_000_000 + b'"}', 413),
    ],
    ids=["401", "400", "406-accept", "406-content-type", "415", "422", "413"],
)
def test_match_errors_conform_and_name_the_latest_version(
    node: tuple[TestClient, Tokens], headers: dict[str, str], body: bytes | None, status: int
) -> None:
    client, tokens = node
    headers = {"X-Auth-Token": tokens.peer} | headers
    content = body or json.dumps({"patient": full_patient("Q1")}).encode()
    answer = client.post("/match", content=content, headers=headers)
    assert answer.status_code == status, answer.text
    assert answered_version(answer) == "1.1"
    conforms(answer.json(), VERSION_ERROR_SCHEMA if status == 406 else ERROR_SCHEMA)


def test_heartbeat_and_metrics_conform(node: tuple[TestClient, Tokens]) -> None:
    stored, tokens = node
    for path, schema in (("/heartbeat", HEARTBEAT_SCHEMA), ("/metrics", METRICS_SCHEMA)):
        answer = stored.get(path, headers={"X-Auth-Token": tokens.peer})
        assert answer.status_code == 200, answer.text
        answered_version(answer)
        conforms(answer.json(), schema)


# ---------------------------------------------------------------- outbound requests


@pytest.mark.parametrize("test", [False, True])
def test_outbound_requests_conform_to_each_peers_version(
    node: tuple[TestClient, Tokens], fault_peers: FaultPeerServer, test: bool
) -> None:
    client, tokens = node
    patient_id = "T1" if test else "F1"
    answer = client.post(
        f"/api/patients/{patient_id}/match/external", headers={"X-Auth-Token": tokens.submitter}
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["peers"]) == len(PEER_VERSIONS)
    for version in PEER_VERSIONS:
        key = f"conformance-{version}"
        headers = fault_peers.state.last_headers[key]
        assert headers["content-type"] == media_type(version)
        assert headers["accept"] == media_type(version)
        sent = json.loads(fault_peers.state.last_body[key])
        conforms(sent, match_request_schema(version))
        variants = [g["variant"] for g in sent["patient"]["genomicFeatures"]]
        assert [v["referenceName"] for v in variants] == ["2", "M"]
        assert [d["id"] for d in sent["patient"]["disorders"]] == ["MIM:607208", "Orphanet:33069"]
        assert sent["patient"].get("test", False) is test
