"""The peer-facing MME API: POST /match, GET /heartbeat, GET /metrics."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_samples import Tokens, our_ids, patient_json
from starlette.testclient import TestClient

from mme_node.app import create_app
from mme_node.matching.phenotype import BLEND, DEFAULT_MODEL
from mme_node.security import Role, TokenRegistry
from mme_node.services.history import RecordedMatch
from mme_node.settings import Settings, load_settings
from mme_node.stores import database

MME_V1_0 = "application/vnd.ga4gh.matchmaker.v1.0+json"
MME_V1_1 = "application/vnd.ga4gh.matchmaker.v1.1+json"
LATEST = MME_V1_1
AUTISM = "HP:0000717"
GAIT_ATAXIA = "HP:0002066"
HEARING_LOSS = "HP:0000407"


def submit(client: TestClient, token: str, patient: dict[str, Any]) -> None:
    answer = client.post(
        "/api/patients", json={"patient": patient}, headers={"X-Auth-Token": token}
    )
    assert answer.status_code == 201, answer.text


def match(
    client: TestClient,
    token: str,
    patient: dict[str, Any],
    media_type: str = MME_V1_0,
    **headers: str,
) -> httpx.Response:
    return client.post(
        "/match",
        content=json.dumps({"patient": patient}),
        headers={
            "X-Auth-Token": token,
            "Content-Type": media_type,
            "Accept": media_type,
            **headers,
        },
    )


def query(patient_id: str = "Q1", *terms: str, **changes: Any) -> dict[str, Any]:
    """A peer's query patient (another node's contact)."""
    features = [{"id": t} for t in terms or (AUTISM, GAIT_ATAXIA)]
    contact = {"name": "Dr. Peer", "href": "https://peer.example.org/contact"}
    return patient_json(patient_id, features=features, contact=contact, **changes)


def stored(patient_id: str, *terms: str, **changes: Any) -> dict[str, Any]:
    return patient_json(patient_id, features=[{"id": t} for t in terms], **changes)


def ids(answer: httpx.Response, client: TestClient) -> list[str]:
    """Our ids of the patients in a /match answer (peers see pseudonyms)."""
    return our_ids(client, [result["patient"]["id"] for result in answer.json()["results"]])


@pytest.fixture
def cohort(client: TestClient, tokens: Tokens) -> TestClient:
    """Six real patients and one test patient of clinic-a, near the default query or not."""
    for number, terms in enumerate(
        [(AUTISM, GAIT_ATAXIA), (AUTISM,), (GAIT_ATAXIA,), (HEARING_LOSS,), (AUTISM, HEARING_LOSS)]
    ):
        submit(client, tokens.submitter, stored(f"P{number}", *terms))
    submit(client, tokens.submitter, stored("P5", HEARING_LOSS, genomicFeatures=[]))
    submit(client, tokens.submitter, stored("T1", AUTISM, GAIT_ATAXIA, test=True))
    return client


def custom_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# ---------------------------------------------------------------- /match: versions


@pytest.mark.parametrize("media_type", [MME_V1_0, MME_V1_1])
def test_match_answers_in_the_version_asked(
    cohort: TestClient, tokens: Tokens, media_type: str
) -> None:
    answer = match(cohort, tokens.peer, query(), media_type)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == media_type
    assert ids(answer, cohort)[0] == "P0"


def test_v1_0_answer_leaves_out_the_contact_fields_of_v1_1(
    client: TestClient, tokens: Tokens
) -> None:
    contact = {
        "name": "Dr. Example",
        "href": "mailto:dr.example@example.org",
        "email": "dr.example@example.org",
        "roles": ["clinician"],
    }
    submit(client, tokens.submitter, stored("P1", AUTISM, contact=contact))
    old = match(client, tokens.peer, query(), MME_V1_0).json()["results"][0]["patient"]
    new = match(client, tokens.peer, query(), MME_V1_1).json()["results"][0]["patient"]
    assert "email" not in old["contact"] and "roles" not in old["contact"]
    assert new["contact"]["email"] == "dr.example@example.org"
    assert new["contact"]["roles"] == ["clinician"]


def test_match_without_a_version_answers_in_the_latest(cohort: TestClient, tokens: Tokens) -> None:
    answer = match(cohort, tokens.peer, query(), "application/json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == LATEST


def test_match_answers_in_the_request_version_when_accept_names_none(
    cohort: TestClient, tokens: Tokens
) -> None:
    """A v1.0 peer that sends ``Accept: */*`` (a client default) still gets v1.0."""
    for accept in ("*/*", "application/json"):
        answer = match(cohort, tokens.peer, query(), MME_V1_0, Accept=accept)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == MME_V1_0


def test_accept_wins_over_the_request_version(cohort: TestClient, tokens: Tokens) -> None:
    answer = match(cohort, tokens.peer, query(), MME_V1_0, Accept=MME_V1_1)
    assert answer.headers["content-type"] == MME_V1_1


@pytest.mark.parametrize("version", ["2.0", "0.1", "3.1"])
def test_unsupported_accept_version_is_406_listing_supported_versions(
    cohort: TestClient, tokens: Tokens, version: str
) -> None:
    asked = f"application/vnd.ga4gh.matchmaker.v{version}+json"
    answer = match(cohort, tokens.peer, query(), MME_V1_0, Accept=asked)
    assert answer.status_code == 406
    assert answer.headers["content-type"] == LATEST
    message = answer.json()["message"]
    assert MME_V1_0 in message and MME_V1_1 in message
    assert version in message
    assert answer.json()["supportedVersions"] == ["1.0", "1.1"]


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/png, text/plain"])
def test_an_unsupported_accept_media_type_is_406_listing_supported_versions(
    cohort: TestClient, tokens: Tokens, accept: str
) -> None:
    """search-api "Error handling": the 406 body lists the versions, as ``["1.0", "1.1"]``."""
    answer = match(cohort, tokens.peer, query(), MME_V1_0, Accept=accept)
    assert answer.status_code == 406
    assert answer.headers["content-type"] == LATEST
    assert answer.json()["supportedVersions"] == ["1.0", "1.1"]
    assert accept in answer.json()["message"]


def test_unsupported_request_version_is_406(cohort: TestClient, tokens: Tokens) -> None:
    answer = match(
        cohort, tokens.peer, query(), "application/vnd.ga4gh.matchmaker.v2.0+json", Accept="*/*"
    )
    assert answer.status_code == 406
    assert answer.headers["content-type"] == LATEST
    assert answer.json()["supportedVersions"] == ["1.0", "1.1"]


@pytest.mark.parametrize("version", ["1.2", "1.9", "1.10"])
def test_a_newer_minor_version_is_answered_in_ours(
    cohort: TestClient, tokens: Tokens, version: str
) -> None:
    """Minor versions are compatible (spec): a v1.x request is read and answered in v1.1."""
    newer = f"application/vnd.ga4gh.matchmaker.v{version}+json"
    answer = match(cohort, tokens.peer, query(), newer)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == MME_V1_1
    assert ids(answer, cohort)


def test_a_newer_minor_content_type_is_read_under_any_accept(
    cohort: TestClient, tokens: Tokens
) -> None:
    newer = "application/vnd.ga4gh.matchmaker.v1.2+json"
    answer = match(cohort, tokens.peer, query(), newer, Accept=MME_V1_0)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == MME_V1_0


def test_an_unknown_major_content_type_is_406_even_when_accept_is_supported(
    cohort: TestClient, tokens: Tokens
) -> None:
    answer = match(
        cohort, tokens.peer, query(), "application/vnd.ga4gh.matchmaker.v2.0+json", Accept=MME_V1_0
    )
    assert answer.status_code == 406
    assert answer.headers["content-type"] == LATEST
    assert "2.0" in answer.json()["message"]


def test_first_supported_version_in_accept_is_used(cohort: TestClient, tokens: Tokens) -> None:
    accept = f"application/vnd.ga4gh.matchmaker.v2.0+json, {MME_V1_0};q=0.5"
    answer = match(cohort, tokens.peer, query(), MME_V1_1, Accept=accept)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == MME_V1_0


# ---------------------------------------------------------------- /match: errors


def test_match_without_token_is_401_with_mme_content_type(client: TestClient) -> None:
    answer = client.post(
        "/match", content=json.dumps({"patient": query()}), headers={"Content-Type": MME_V1_0}
    )
    assert answer.status_code == 401
    assert answer.headers["content-type"] == LATEST
    assert "X-Auth-Token" in answer.json()["message"]


def test_match_with_unknown_token_is_401(client: TestClient) -> None:
    answer = match(client, "not-a-real-token", query())
    assert answer.status_code == 401
    assert "message" in answer.json()


def test_submitter_token_cannot_match_as_a_peer(client: TestClient, tokens: Tokens) -> None:
    answer = match(client, tokens.submitter, query())
    assert answer.status_code == 403
    assert "peer" in answer.json()["message"]


def test_admin_token_may_match(cohort: TestClient, tokens: Tokens) -> None:
    assert match(cohort, tokens.admin, query()).status_code == 200


def test_each_app_keeps_its_own_answer_texts(
    cohort: TestClient, tokens: Tokens, node_settings: Settings
) -> None:
    assert match(cohort, tokens.peer, query()).status_code == 200
    assert len(cohort.app.state.answers) > 0  # type: ignore[attr-defined]
    other = create_app(node_settings)
    assert len(other.state.answers) == 0
    assert other.state.answers is not cohort.app.state.answers  # type: ignore[attr-defined]


def test_match_is_503_with_a_message_while_another_process_holds_the_database(
    node_settings: Settings, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 200)  # give up on the lock quickly
    with TestClient(create_app(node_settings)) as client:
        submit(client, tokens.submitter, stored("P0", AUTISM, GAIT_ATAXIA))
        other = sqlite3.connect(node_settings.database_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # holds the write lock the history needs
            answer = match(client, tokens.peer, query())
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert answer.status_code == 503, answer.text
        assert "match history failed: database is locked" in answer.json()["message"]
        assert match(client, tokens.peer, query()).status_code == 200  # and it recovers


def test_an_answer_made_while_its_history_is_written_leaves_only_once_it_is_written(
    node_settings: Settings, tokens: Tokens
) -> None:
    """The answer's text is built during the write (docs/serving.md), never sent before it."""
    with TestClient(create_app(node_settings)) as client:
        submit(client, tokens.submitter, stored("P0", AUTISM, GAIT_ATAXIA))
        history = client.app.state.node.history  # type: ignore[attr-defined]
        recording = history.record
        events: list[str] = []

        async def slow_record(recorded: RecordedMatch, audit: Any = ()) -> RecordedMatch:
            events.append("writing")
            await asyncio.sleep(0.3)
            done = await recording(recorded, audit)
            events.append("written")
            return done

        history.record = slow_record
        answers = client.app.state.answers  # type: ignore[attr-defined]
        answer_text = answers.answer

        def answer(*args: Any) -> bytes:
            events.append("answer made")
            return answer_text(*args)  # type: ignore[no-any-return]

        answers.answer = answer
        answered = match(client, tokens.peer, query())
        events.append("answer received")
    assert answered.status_code == 200 and answered.json()["results"]
    assert events == ["writing", "answer made", "written", "answer received"]


def test_malformed_json_is_400(client: TestClient, tokens: Tokens) -> None:
    answer = client.post(
        "/match",
        content=b'{"patient": {',
        headers={"X-Auth-Token": tokens.peer, "Content-Type": MME_V1_0},
    )
    assert answer.status_code == 400
    assert "JSON" in answer.json()["message"]
    assert answer.headers["content-type"] == LATEST


def test_wrong_content_type_is_415(client: TestClient, tokens: Tokens) -> None:
    answer = client.post(
        "/match",
        content=json.dumps({"patient": query()}),
        headers={"X-Auth-Token": tokens.peer, "Content-Type": "text/plain"},
    )
    assert answer.status_code == 415
    assert MME_V1_0 in answer.json()["message"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"contact": None}, "contact"),
        ({"id": ""}, "patient.id"),
        ({"features": [{"id": "HP:9999999"}], "genomicFeatures": []}, "features[0]"),
        ({"features": [{"id": "not-a-term"}]}, "features[0]"),
        ({"features": [], "genomicFeatures": []}, "features"),
    ],
)
def test_invalid_query_patient_is_422_naming_the_field(
    client: TestClient, tokens: Tokens, change: dict[str, Any], named: str
) -> None:
    patient = query()
    patient.update(change)
    answer = match(client, tokens.peer, {k: v for k, v in patient.items() if v is not None})
    assert answer.status_code == 422, answer.text
    assert named in answer.json()["message"]


def test_body_without_patient_is_422(client: TestClient, tokens: Tokens) -> None:
    answer = client.post(
        "/match",
        content=b'{"case": {}}',
        headers={"X-Auth-Token": tokens.peer, "Content-Type": MME_V1_0},
    )
    assert answer.status_code == 422
    assert "patient" in answer.json()["message"]


def test_body_over_the_limit_is_413(client: TestClient, tokens: Tokens) -> None:
    answer = match(client, tokens.peer, query(label="x" * (1024 * 1024)))
    assert answer.status_code == 413
    assert "1048576" in answer.json()["message"]


def test_get_on_match_is_405(client: TestClient, tokens: Tokens) -> None:
    answer = client.get("/match", headers={"X-Auth-Token": tokens.peer})
    assert answer.status_code == 405


# ---------------------------------------------------------------- /match: results


def test_results_are_best_first_with_scores_in_the_unit_interval(
    cohort: TestClient, tokens: Tokens
) -> None:
    results = match(cohort, tokens.peer, query()).json()["results"]
    scores = [result["score"]["patient"] for result in results]
    assert len(results) == 5
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= score <= 1 for score in scores)
    assert our_ids(cohort, [results[0]["patient"]["id"]]) == ["P0"]
    assert results[0]["score"]["patient"] == pytest.approx(1.0)


def test_answer_carries_the_node_disclaimer_and_terms(cohort: TestClient, tokens: Tokens) -> None:
    body = match(cohort, tokens.peer, query()).json()
    defaults = load_settings(environ={})
    assert body["disclaimer"] == defaults.disclaimer != ""
    assert body["terms"] == defaults.terms != ""


def test_no_similar_patient_gives_empty_results(client: TestClient, tokens: Tokens) -> None:
    answer = match(client, tokens.peer, query())
    assert answer.status_code == 200
    assert answer.json()["results"] == []


def test_test_query_matches_only_test_patients(cohort: TestClient, tokens: Tokens) -> None:
    assert ids(match(cohort, tokens.peer, query(test=True)), cohort) == ["T1"]
    assert "T1" not in ids(match(cohort, tokens.peer, query()), cohort)


def test_query_with_a_stored_id_and_contact_does_not_match_itself(
    cohort: TestClient, tokens: Tokens
) -> None:
    echo = stored("P0", AUTISM, GAIT_ATAXIA)
    assert "P0" not in ids(match(cohort, tokens.peer, echo), cohort)


def test_our_patient_sent_back_under_the_pseudonym_we_showed_does_not_match_itself(
    cohort: TestClient, tokens: Tokens
) -> None:
    shown = match(cohort, tokens.peer, query()).json()["results"][0]["patient"]
    assert our_ids(cohort, [shown["id"]]) == ["P0"] and shown["id"] != "P0"

    echoed = ids(match(cohort, tokens.peer, shown), cohort)

    assert "P0" not in echoed and echoed  # the others still match
    assert len(echoed) == 5  # the answer is still full
    assert "P0" in ids(match(cohort, tokens.peer, shown | {"id": "0" * 32}), cohort)


def test_another_peer_sending_a_pseudonym_it_was_not_shown_still_matches_that_patient(
    cohort: TestClient, tokens: Tokens, node_settings: Settings
) -> None:
    shown = match(cohort, tokens.peer, query()).json()["results"][0]["patient"]
    with TokenRegistry(node_settings.database_path) as registry:
        other_peer = registry.create("other-peer-node", Role.PEER)

    results = match(cohort, other_peer, shown).json()["results"]
    assert "P0" in our_ids(cohort, [r["patient"]["id"] for r in results], "other-peer-node")


def test_gene_given_as_ensembl_id_matches_a_symbol(client: TestClient, tokens: Tokens) -> None:
    submit(client, tokens.submitter, stored("same-gene", HEARING_LOSS))  # SCN1A
    other = stored("other-gene", HEARING_LOSS, genomicFeatures=[{"gene": {"id": "PTEN"}}])
    submit(client, tokens.submitter, other)
    ensembl = query(genomicFeatures=[{"gene": {"id": "ENSG00000144285"}}])
    assert ids(match(client, tokens.peer, ensembl), client) == ["same-gene", "other-gene"]


@pytest.fixture
def two_results_settings(node_settings: Settings) -> Settings:
    return node_settings.replace(max_results=2)


def test_max_results_setting_caps_the_answer(
    two_results_settings: Settings, tokens: Tokens, cohort: TestClient
) -> None:
    everyone = ids(match(cohort, tokens.peer, query()), cohort)
    for client in custom_client(two_results_settings):
        assert ids(match(client, tokens.peer, query()), cohort) == everyone[:2]


def test_max_results_from_the_environment_caps_the_answer(
    node_settings: Settings, shared_hpo_dir: Path, tokens: Tokens, cohort: TestClient
) -> None:
    settings = load_settings(environ={"MME_MAX_RESULTS": "3"}).replace(
        data_dir=node_settings.data_dir, hpo_dir_override=shared_hpo_dir
    )
    for client in custom_client(settings):
        assert len(ids(match(client, tokens.peer, query()), cohort)) == 3


# ---------------------------------------------------------------- /heartbeat


def test_heartbeat_needs_a_token(client: TestClient) -> None:
    answer = client.get("/heartbeat")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == LATEST


def test_heartbeat_lists_accepted_versions_and_production_flag(
    client: TestClient, tokens: Tokens
) -> None:
    answer = client.get("/heartbeat", headers={"X-Auth-Token": tokens.peer})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == LATEST
    heartbeat = answer.json()["heartbeat"]
    assert heartbeat["accept"] == [MME_V1_0, MME_V1_1]
    assert heartbeat["production"] is False
    assert heartbeat["version"]


def test_a_peers_heartbeat_has_the_specs_fields_only(client: TestClient, tokens: Tokens) -> None:
    # Nothing of the operator's: no store (an Elasticsearch index and cluster URL), no
    # patient count, no HPO release, phenotype model or worker.
    answer = client.get("/heartbeat", headers={"X-Auth-Token": tokens.peer})
    assert set(answer.json()["heartbeat"]) == {"production", "version", "accept"}
    assert "patients" not in answer.text


def test_an_admins_heartbeat_also_shows_the_operators_view(
    client: TestClient, tokens: Tokens
) -> None:
    answer = client.get("/heartbeat", headers={"X-Auth-Token": tokens.admin})
    heartbeat = answer.json()["heartbeat"]
    assert heartbeat["accept"] == [MME_V1_0, MME_V1_1]
    assert heartbeat["_store"]["ok"] is True
    assert heartbeat["_store"]["detail"].endswith(" patients")
    assert heartbeat["_phenotypeModel"] == DEFAULT_MODEL
    assert heartbeat["_hpoRelease"] and heartbeat["_worker"]


def test_heartbeat_names_the_previous_phenotype_scorer_when_configured(
    node_settings: Settings, tokens: Tokens
) -> None:
    for client in custom_client(node_settings.replace(phenotype_model=BLEND)):
        answer = client.get("/heartbeat", headers={"X-Auth-Token": tokens.admin})
        assert answer.json()["heartbeat"]["_phenotypeModel"] == BLEND


def test_heartbeat_of_a_production_node_says_so(node_settings: Settings, tokens: Tokens) -> None:
    for client in custom_client(node_settings.replace(production=True)):
        answer = client.get("/heartbeat", headers={"X-Auth-Token": tokens.peer})
        assert answer.json()["heartbeat"]["production"] is True


def test_heartbeat_refuses_a_submitter_token(client: TestClient, tokens: Tokens) -> None:
    assert client.get("/heartbeat", headers={"X-Auth-Token": tokens.submitter}).status_code == 403


# ---------------------------------------------------------------- /metrics


def metrics(client: TestClient, token: str) -> dict[str, Any]:
    answer = client.get("/metrics", headers={"X-Auth-Token": token})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == LATEST
    body: dict[str, Any] = answer.json()
    return body["metrics"]


def test_metrics_need_a_token(client: TestClient, tokens: Tokens) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-Auth-Token": "nope"}).status_code == 401
    assert client.get("/metrics", headers={"X-Auth-Token": tokens.submitter}).status_code == 403


def test_metrics_are_aggregate_counts_of_real_patients(cohort: TestClient, tokens: Tokens) -> None:
    counts = metrics(cohort, tokens.peer)
    assert set(counts) == {
        "numberOfCases",
        "numberOfSubmitters",
        "numberOfGenes",
        "numberOfUniqueGenes",
        "numberOfVariants",
        "numberOfUniqueVariants",
        "numberOfFeatures",
        "numberOfUniqueFeatures",
        "numberOfCasesWithDiagnosis",
        "numberOfRequestsReceived",
        "numberOfPotentialMatchesSent",
        "dateGenerated",
    }
    assert counts["numberOfCases"] == 6  # T1 is a test patient
    assert counts["numberOfSubmitters"] == 1
    assert counts["numberOfGenes"] == 5  # P5 has no gene
    assert counts["numberOfUniqueGenes"] == 1
    assert counts["numberOfFeatures"] == 8
    assert counts["numberOfUniqueFeatures"] == 3
    assert all(isinstance(v, int) for k, v in counts.items() if k != "dateGenerated")


def test_metrics_count_real_match_requests_and_results_sent(
    cohort: TestClient, tokens: Tokens
) -> None:
    before = metrics(cohort, tokens.peer)
    sent = len(ids(match(cohort, tokens.peer, query()), cohort))
    match(cohort, tokens.peer, query(test=True))
    after = metrics(cohort, tokens.peer)
    assert after["numberOfRequestsReceived"] == before["numberOfRequestsReceived"] + 1
    assert after["numberOfPotentialMatchesSent"] == before["numberOfPotentialMatchesSent"] + sent


def test_query_terms_and_genes_unknown_here_are_ignored_not_refused(
    cohort: TestClient, tokens: Tokens
) -> None:
    # A peer on a newer HPO release or gene table: HP:9999999 and NOTAGENE1 are
    # unknown here; the rest of its query still finds our patients.
    peer_query = query(
        "Q1",
        AUTISM,
        "HP:9999999",
        genomicFeatures=[{"gene": {"id": "NOTAGENE1"}}],
    )
    answer = match(cohort, tokens.peer, peer_query)
    assert answer.status_code == 200, answer.text
    assert ids(answer, cohort)[0] in {"P0", "P1", "P4"}


def test_query_with_nothing_known_here_is_422_naming_what_was_ignored(
    client: TestClient, tokens: Tokens
) -> None:
    peer_query = query("Q1", "HP:9999999", genomicFeatures=[])
    answer = match(client, tokens.peer, peer_query)
    assert answer.status_code == 422
    assert "HP:9999999" in answer.json()["message"]


def test_a_replaced_patient_is_answered_as_it_is_now(client: TestClient, tokens: Tokens) -> None:
    def contact(name: str) -> dict[str, str]:
        return {"name": name, "href": "mailto:dr@example.org"}

    submit(client, tokens.submitter, stored("P1", AUTISM, contact=contact("Dr First")))
    first = match(client, tokens.peer, query()).json()["results"][0]["patient"]
    replaced = client.post(
        "/api/patients",
        json={"patient": stored("P1", AUTISM, contact=contact("Dr Second"))},
        headers={"X-Auth-Token": tokens.submitter},
    )
    assert replaced.status_code == 200
    second = match(client, tokens.peer, query()).json()["results"][0]["patient"]
    assert (first["contact"]["name"], second["contact"]["name"]) == ("Dr First", "Dr Second")
    assert first["id"] == second["id"]  # the same pseudonym for the same patient


# ---------------------------------------------------------------- /match: assemblies


def braf_v600e(assembly: str, start: int) -> dict[str, Any]:
    variant = {
        "assembly": assembly,
        "referenceName": "7",
        "start": start,
        "end": start + 1,
        "referenceBases": "A",
        "alternateBases": "T",
    }
    return {"gene": {"id": "BRAF"}, "variant": variant}


def test_the_same_variant_on_grch37_and_grch38_matches_at_variant_level(
    client: TestClient, tokens: Tokens
) -> None:
    """BRAF V600E is 7:140453136 on GRCh37 and 7:140753336 on GRCh38 (1-based)."""
    on_37 = braf_v600e("GRCh37", 140453135)
    submit(client, tokens.submitter, stored("V37", AUTISM, genomicFeatures=[on_37]))

    def score(grch38_start: int) -> float:
        asked = query("Q", AUTISM, genomicFeatures=[braf_v600e("GRCh38", grch38_start)])
        answer = match(client, tokens.peer, asked)
        [result] = answer.json()["results"]
        return float(result["score"]["patient"])

    assert score(140753335) > score(140753300)


def test_a_lifted_variant_counts_once_in_the_metrics(client: TestClient, tokens: Tokens) -> None:
    on_37 = braf_v600e("GRCh37", 140453135)
    submit(client, tokens.submitter, stored("V37", AUTISM, genomicFeatures=[on_37]))
    on_38 = braf_v600e("GRCh38", 140753335)
    submit(client, tokens.submitter, stored("V38", AUTISM, genomicFeatures=[on_38]))
    counts = metrics(client, tokens.peer)
    assert (counts["numberOfVariants"], counts["numberOfUniqueVariants"]) == (2, 1)
