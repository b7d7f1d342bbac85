"""The Elasticsearch store speaks the right HTTP, checked without a server.

A fake transport node records every request the official client sends and
answers from a queue of canned responses, so these tests pin the exact index
body and candidate search (golden files in ``golden/``), the write
parameters, and how answers and failures become records and node errors. What
the cluster holds after timeouts, dropped connections and 429s is
``test_elastic_faults.py``; the behaviour against a real server is the
contract suite (``test_contract.py`` with ``ELASTICSEARCH_URL`` set).
"""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from elastic_transport import HttpxAsyncHttpNode, NodeConfig

from mme_node.errors import Conflict, InvalidRequest, MMEError, NotFound, ServiceUnavailable
from mme_node.model import (
    Consent,
    Contact,
    DataUse,
    DisclosureLevel,
    Feature,
    Gene,
    GenomicFeature,
    Patient,
    PatientRecord,
    Sharing,
    Variant,
)
from mme_node.security.consent import Audience, PeerScope, reach_of
from mme_node.settings import Settings
from mme_node.stores.codec import encode_record
from mme_node.stores.elastic import (
    ElasticsearchPatientStore,
    connect,
    elasticsearch_store_from_settings,
)
from mme_node.stores.elastic.mapping import IndexNames, audience_tags, document_id, reach_tags
from mme_node.stores.elastic.requests import Backoff
from mme_node.stores.elastic.writes import DocumentWriter

pytestmark = pytest.mark.anyio

GOLDEN = Path(__file__).parent / "golden"
URL = "http://es.test:9200"
PREFIX = "mme-test"
RELEASE = "2024-04-26"
INDEX = "mme-test-2024-04-26"
READ = "/mme-test-read"
WRITE = "/mme-test-write"
CREATED = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)

Answer = tuple[int, Any] | Exception


class FakeElasticsearch:
    """Answers requests in order from a queue and keeps every request it saw.

    A request the test did not plan for gets a 500, which fails the test.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._answers: deque[Answer] = deque()

    def answer(self, status: int, body: Any = None, *, times: int = 1) -> None:
        self._answers.extend([(status, {} if body is None else body)] * times)

    def fail(self, error: Exception) -> None:
        self._answers.append(error)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self._answers:
            return httpx.Response(500, json={"error": {"type": "unplanned_request"}})
        answer = self._answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, json=body, headers={"X-Elastic-Product": "Elasticsearch"})

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def node_answered_by(server: FakeElasticsearch) -> type[HttpxAsyncHttpNode]:
    """The client's own httpx node class, with the network swapped for ``server``."""

    class FakeNode(HttpxAsyncHttpNode):
        def __init__(self, config: NodeConfig) -> None:
            super().__init__(config)
            self.client = httpx.AsyncClient(
                base_url=self.base_url, transport=httpx.MockTransport(server.handle)
            )

    return FakeNode


class TinyWeights:
    """A five-term ontology: root > phenotypic abnormality > nervous system > two leaves."""

    parents = {
        "HP:0000118": "HP:0000001",
        "HP:0000707": "HP:0000118",
        "HP:0001250": "HP:0000707",
        "HP:0001263": "HP:0000707",
    }
    ic = {
        "HP:0000001": 0.0,
        "HP:0000118": 0.05,
        "HP:0000707": 1.25,
        "HP:0001250": 3.5,
        "HP:0001263": 2.75,
    }

    def closure(self, term_ids: Sequence[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        for term in term_ids:
            current: str | None = term if term in self.ic else None
            while current is not None:
                found[current] = self.ic[current]
                current = self.parents.get(current)
        return found


def fixture_patient(test: bool = False) -> Patient:
    return Patient(
        id="P0001",
        contact=Contact(name="Dr Ada Example", href="mailto:ada@example.org"),
        features=(
            Feature("HP:0001250"),
            Feature("HP:0001263"),
            Feature("HP:0000252", observed=False),
        ),
        genomic_features=(
            GenomicFeature(
                gene=Gene(
                    id="SCN1A",
                    hgnc_id="HGNC:10585",
                    symbol="SCN1A",
                    ensembl_id="ENSG00000144285",
                    entrez_id="6323",
                ),
                variant=Variant(
                    assembly="GRCh37",
                    reference_name="2",
                    start=166848646,
                    end=166848647,
                    reference_bases="G",
                    alternate_bases="A",
                ),
            ),
            GenomicFeature(gene=Gene(id="Not-Resolved")),
        ),
        test=test,
    )


def fixture_record(
    patient_id: str = "P0001", *, owner: str = "clinic-a", version: int = 1
) -> PatientRecord:
    return PatientRecord(
        owner=owner,
        patient=fixture_patient().replace(id=patient_id),
        hpo_release=RELEASE,
        submitted_json=f'{{"id": "{patient_id}"}}',
        version=version,
        created=CREATED,
        updated=CREATED,
    )


def hit(record: PatientRecord, **extra: Any) -> dict[str, Any]:
    """A document as Elasticsearch returns it in a hit or a get."""
    return {
        "_index": INDEX,
        "_id": document_id(*record.key),
        "_source": {"record": encode_record(record)},
        **extra,
    }


def found(record: PatientRecord, seq_no: int = 7, primary_term: int = 2) -> dict[str, Any]:
    return hit(record, found=True, _seq_no=seq_no, _primary_term=primary_term, _version=1)


def missing(patient_id: str = "P0001", owner: str = "clinic-a") -> dict[str, Any]:
    return {"_index": INDEX, "_id": document_id(owner, patient_id), "found": False}


def search_answer(*records: PatientRecord, total: int | None = None) -> dict[str, Any]:
    hits: dict[str, Any] = {"hits": [hit(r, _score=1.0) for r in records]}
    if total is not None:
        hits["total"] = {"value": total, "relation": "eq"}
    return {"took": 1, "timed_out": False, "hits": hits}


def scroll_answer(*records: PatientRecord, successful: int = 1) -> dict[str, Any]:
    shards = {"total": 1, "successful": successful, "skipped": 0, "failed": 1 - successful}
    return {**search_answer(*records), "_scroll_id": "scroll-1", "_shards": shards}


def error_answer(kind: str, status: int) -> dict[str, Any]:
    return {"error": {"type": kind, "reason": f"{kind} happened"}, "status": status}


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def ndjson(request: httpx.Request) -> list[Any]:
    return [json.loads(line) for line in request.content.splitlines() if line.strip()]


def params(request: httpx.Request) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(request.url.query.decode()).items()}


def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())


async def no_pause(seconds: float) -> None:
    """Backoff without waiting: the canned answers come at once anyway."""


def settings_answer(index: str = INDEX, **explicit: str) -> dict[str, Any]:
    """The answer to the store's read of its index settings (flat, with defaults)."""
    defaults = {"index.max_result_window": "10000", "index.refresh_interval": "1s"}
    return {index: {"settings": explicit, "defaults": defaults}}


@pytest.fixture
def server() -> FakeElasticsearch:
    return FakeElasticsearch()


@pytest.fixture
def make_store(
    server: FakeElasticsearch,
) -> Callable[[str], ElasticsearchPatientStore]:
    def make(url: str = URL) -> ElasticsearchPatientStore:
        return ElasticsearchPatientStore(
            url,
            index_prefix=PREFIX,
            hpo_release=RELEASE,
            term_weights=TinyWeights(),
            client=connect(url, node_class=node_answered_by(server)),
            backoff=Backoff(sleep=no_pause),
        )

    return make


@pytest.fixture
async def store(
    make_store: Callable[[str], ElasticsearchPatientStore],
) -> AsyncIterator[ElasticsearchPatientStore]:
    elastic = make_store(URL)
    yield elastic
    await elastic.close()


# -- index and aliases -------------------------------------------------------


async def test_open_creates_the_release_index_with_golden_mapping_and_aliases(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, error_answer("aliases_not_found_exception", 404))
    server.answer(200, {"acknowledged": True, "index": INDEX})
    server.answer(200, {INDEX: {"aliases": {"mme-test-write": {}, "mme-test-read": {}}}})
    server.answer(200, settings_answer())
    server.answer(200, {"acknowledged": True})  # the mapping update

    await store.open()

    create = server.requests[1]
    assert (create.method, create.url.path) == ("PUT", f"/{INDEX}")
    assert body(create) == golden("elastic_index.json")
    assert store.index == INDEX


async def test_open_uses_the_index_behind_existing_aliases(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"mme-test-2023-10-09": {"aliases": {"mme-test-write": {}}}})
    server.answer(200, settings_answer("mme-test-2023-10-09"))
    server.answer(200, {"acknowledged": True})  # the mapping update

    await store.open()

    assert [(r.method, r.url.path) for r in server.requests] == [
        ("GET", "/_alias/mme-test-write"),
        (
            "GET",
            "/mme-test-2023-10-09/_settings/"
            "index.max_result_window,index.refresh_interval,index.blocks.write",
        ),
        ("PUT", "/mme-test-2023-10-09/_mapping"),
    ]
    assert params(server.requests[1]) == {"include_defaults": "true", "flat_settings": "true"}
    assert (server.last.method, server.last.url.path) == ("PUT", "/mme-test-2023-10-09/_mapping")
    assert body(server.last) == {"properties": {"reach": {"type": "keyword"}}}
    assert store.index == "mme-test-2023-10-09"


async def test_open_refuses_a_retrieval_depth_beyond_the_index_result_window(
    server: FakeElasticsearch,
) -> None:
    server.answer(200, {INDEX: {"aliases": {"mme-test-write": {}}}})
    server.answer(200, settings_answer(**{"index.max_result_window": "400"}))
    store = ElasticsearchPatientStore(
        URL,
        index_prefix=PREFIX,
        hpo_release=RELEASE,
        retrieval_depth=500,
        client=connect(URL, node_class=node_answered_by(server)),
    )

    with pytest.raises(MMEError, match="'match_retrieval_depth' is 500, above .* 400"):
        await store.open()
    await store.close()


async def test_listings_stop_at_the_result_window_the_index_has(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {INDEX: {"aliases": {"mme-test-write": {}}}})
    server.answer(200, settings_answer(**{"index.max_result_window": "100"}))
    server.answer(200, {"acknowledged": True})  # the mapping update
    await store.open()

    with pytest.raises(InvalidRequest, match="first 100 patients"):
        await store.list(None, offset=90, limit=20)


@pytest.mark.parametrize(
    ("setting", "warning"),
    [
        ({"index.refresh_interval": "-1"}, "refreshes switched off"),
        ({"index.blocks.write": "true"}, "refuses writes"),
    ],
)
async def test_open_warns_of_index_settings_that_stall_or_refuse_saves(
    server: FakeElasticsearch,
    store: ElasticsearchPatientStore,
    caplog: pytest.LogCaptureFixture,
    setting: dict[str, str],
    warning: str,
) -> None:
    server.answer(200, {INDEX: {"aliases": {"mme-test-write": {}}}})
    server.answer(200, settings_answer(**setting))
    server.answer(200, {"acknowledged": True})  # the mapping update

    await store.open()

    assert warning in caplog.text


async def test_open_accepts_an_index_another_node_created_meanwhile(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, error_answer("aliases_not_found_exception", 404))
    server.answer(400, error_answer("resource_already_exists_exception", 400))
    server.answer(200, {INDEX: {"aliases": {"mme-test-write": {}}}})
    server.answer(200, settings_answer())
    server.answer(200, {"acknowledged": True})  # the mapping update

    await store.open()

    assert store.index == INDEX


async def test_drop_deletes_every_index_behind_the_aliases(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"mme-test-2023-10-09": {"aliases": {"mme-test-read": {}}}})
    server.answer(404, error_answer("aliases_not_found_exception", 404))
    server.answer(200, {"acknowledged": True})

    await store.drop()

    assert server.last.method == "DELETE"
    assert server.last.url.path == f"/mme-test-2023-10-09,{INDEX}"
    assert params(server.last)["ignore_unavailable"] == "true"


def test_index_names_refuse_a_prefix_elasticsearch_would_refuse() -> None:
    with pytest.raises(ValueError, match="prefix"):
        IndexNames("MME Patients")


def test_index_names_turn_a_release_into_a_valid_index_name() -> None:
    assert IndexNames("mme-patients").index("HP 2024/04:26") == "mme-patients-hp-2024-04-26"


def test_index_names_refuse_a_release_named_like_an_alias() -> None:
    with pytest.raises(ValueError, match="release"):
        IndexNames("mme-patients").index("read")


def test_document_id_is_fixed_length_and_unambiguous() -> None:
    first = document_id("a", "b/c")

    assert len(first) == 64
    assert first == document_id("a", "b/c")
    assert first != document_id("a/b", "c")


# -- candidates ---------------------------------------------------------------


async def test_candidates_send_one_msearch_equal_to_the_golden_body(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"took": 1, "responses": [search_answer(), search_answer()]})

    await store.candidates(fixture_patient(), 50, test=False)

    assert len(server.requests) == 1
    assert (server.last.method, server.last.url.path) == ("POST", f"{READ}/_msearch")
    assert ndjson(server.last) == golden("elastic_candidates.json")


async def test_candidates_return_the_union_of_both_searches_without_repeats(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    one, two, three = fixture_record("P1"), fixture_record("P2"), fixture_record("P3")
    server.answer(
        200, {"responses": [search_answer(one, two), search_answer(three, one)], "took": 1}
    )

    found = await store.candidates(fixture_patient(), 10, test=False)

    assert [r.patient.id for r in found] == ["P1", "P2", "P3"]
    assert found[0] == one


async def test_candidates_of_a_test_query_search_test_patients_only(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"took": 1, "responses": [search_answer(), search_answer()]})

    await store.candidates(fixture_patient(test=True), 5, test=True)

    searches = ndjson(server.last)[1::2]
    assert [s["query"]["bool"]["filter"] for s in searches] == [[{"term": {"test": True}}]] * 2


async def test_candidates_for_a_peer_search_only_patients_whose_consent_reaches_it(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"took": 1, "responses": [search_answer(), search_answer()]})
    audience = Audience(PeerScope("GB"), reach_of(Consent(Sharing.ALL, DisclosureLevel.GENES)))

    await store.candidates(fixture_patient(), 5, test=False, audience=audience)

    unmarked = {"bool": {"must_not": [{"exists": {"field": "reach"}}]}}
    reaching = {
        "bool": {
            "should": [{"terms": {"reach": ["any", "country:GB", "default"]}}, unmarked],
            "minimum_should_match": 1,
        }
    }
    searches = ndjson(server.last)[1::2]
    assert [s["query"]["bool"]["filter"] for s in searches] == [
        [{"term": {"test": False}}, reaching]
    ] * 2


CONSENTS = (
    None,
    Consent(Sharing.ALL, DisclosureLevel.CONTACT),
    Consent(Sharing.LOCAL, DisclosureLevel.VARIANTS),
    Consent(Sharing.COUNTRIES, DisclosureLevel.GENES, countries=("GB", "FR")),
    Consent(Sharing.ALL, DisclosureLevel.GENES, data_use=(DataUse("DUO:0000022", ("US",)),)),
    Consent(Sharing.ALL, DisclosureLevel.GENES, data_use=(DataUse("DUO:0000028"),)),
    Consent(
        Sharing.COUNTRIES,
        DisclosureLevel.GENES,
        countries=("GB",),
        data_use=(DataUse("DUO:0000022", ("US",)),),
    ),
)


@pytest.mark.parametrize("default", [c for c in CONSENTS if c is not None])
def test_reach_tags_select_exactly_the_patients_the_consent_rules_let_a_peer_see(
    default: Consent,
) -> None:
    """The document's tags meet a peer's tags exactly when its consent reaches the peer."""
    for consent in CONSENTS:
        for country in ("GB", "FR", "US", None):
            scope = PeerScope(country)
            reached = scope.reaches(reach_of(consent or default))
            shared = set(reach_tags(consent)) & set(
                audience_tags(Audience(scope, reach_of(default)))
            )
            assert bool(shared) == reached, (consent, country)


async def test_candidates_without_known_terms_or_genes_ask_nothing(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    patient = fixture_patient().replace(features=(Feature("HP:9999999"),), genomic_features=())

    assert await store.candidates(patient, 5, test=False) == []
    assert server.requests == []


async def test_candidates_failing_inside_the_msearch_are_service_unavailable(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    rejected = error_answer("es_rejected_execution_exception", 429)
    server.answer(200, {"took": 1, "responses": [search_answer(), rejected]})

    with pytest.raises(ServiceUnavailable, match="429"):
        await store.candidates(fixture_patient(), 5, test=False)


# -- writes -------------------------------------------------------------------


async def test_save_creates_a_new_patient_with_op_type_create_and_refresh_wait_for(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, missing())
    server.answer(201, {"result": "created", "_seq_no": 0, "_primary_term": 1})

    stored, created = await store.save(fixture_record(version=5))

    write = server.last
    assert (write.method, write.url.path) == (
        "PUT",
        f"{WRITE}/_doc/{document_id('clinic-a', 'P0001')}",
    )
    assert params(write) == {
        "op_type": "create",
        "refresh": "wait_for",
        "require_alias": "true",
        "timeout": "5s",
    }
    assert created and stored.version == 1
    assert stored.created == stored.updated and stored.created != CREATED
    document = body(write)
    assert document["version"] == 1
    assert document["phenotype_closure"] == [
        "HP:0000001",
        "HP:0000118",
        "HP:0000707",
        "HP:0001250",
        "HP:0001263",
    ]
    assert document["genes"]["symbol"] == ["SCN1A", "NOT-RESOLVED"]
    assert document["variants"] == ["GRCH37:2:166848646:G>A"]


async def test_save_replaces_only_the_version_it_read(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, found(fixture_record(version=3), seq_no=41, primary_term=2))
    server.answer(200, {"result": "updated", "_seq_no": 42, "_primary_term": 2})

    stored, created = await store.save(fixture_record(version=1), expected_version=3)

    assert params(server.last) == {
        "if_seq_no": "41",
        "if_primary_term": "2",
        "refresh": "wait_for",
        "require_alias": "true",
        "timeout": "5s",
    }
    assert not created
    assert (stored.version, stored.created) == (4, CREATED)
    assert body(server.last)["version"] == 4


async def test_save_with_a_stale_expected_version_is_conflict_and_writes_nothing(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, found(fixture_record(version=3)))

    with pytest.raises(Conflict, match="version 3, not the expected version 2"):
        await store.save(fixture_record(), expected_version=2)

    assert [r.method for r in server.requests] == ["GET"]


async def test_save_answered_409_for_an_expected_version_is_conflict(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, found(fixture_record(version=3)))
    server.answer(409, error_answer("version_conflict_engine_exception", 409))

    with pytest.raises(Conflict, match="P0001"):
        await store.save(fixture_record(), expected_version=3)


async def test_save_losing_a_create_race_replaces_the_winner(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, missing())
    server.answer(409, error_answer("version_conflict_engine_exception", 409))
    server.answer(200, found(fixture_record(version=1), seq_no=0, primary_term=1))
    server.answer(200, {"result": "updated"})

    stored, created = await store.save(fixture_record())

    assert not created and stored.version == 2
    assert params(server.last)["if_seq_no"] == "0"


async def test_save_timing_out_reads_the_patient_back_then_sends_the_same_write_again(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, missing())
    server.fail(httpx.ReadTimeout("no answer"))
    server.answer(404, missing())  # read back: it did not land
    server.answer(201, {"result": "created", "_seq_no": 0, "_primary_term": 1})

    stored, created = await store.save(fixture_record())

    assert created and stored.version == 1
    first, read_back, second = server.requests[1:]
    assert [r.method for r in server.requests] == ["GET", "PUT", "GET", "PUT"]
    assert read_back.url.path == f"{WRITE}/_doc/{document_id('clinic-a', 'P0001')}"
    assert (second.url, second.content) == (first.url, first.content)


async def test_save_answered_504_by_a_proxy_builds_on_the_writer_found_instead(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, missing())
    server.answer(504, {"message": "gateway timeout"})
    someone_else = dataclasses.replace(fixture_record(version=1), submitted_json="{}")
    server.answer(200, found(someone_else, seq_no=0, primary_term=1))  # read back
    server.answer(200, found(someone_else, seq_no=0, primary_term=1))  # next attempt's read
    server.answer(200, {"result": "updated", "_seq_no": 1, "_primary_term": 1})

    stored, created = await store.save(fixture_record())

    assert (created, stored.version) == (False, 2)
    assert params(server.last)["if_seq_no"] == "0"


async def test_save_that_cannot_be_read_back_says_it_may_have_landed(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, missing())
    server.fail(httpx.ReadTimeout("no answer"))
    for _ in range(3):  # the read back, and the client's two further attempts
        server.fail(httpx.ConnectError("connection refused"))

    with pytest.raises(ServiceUnavailable, match="may have been"):
        await store.save(fixture_record())


@pytest.mark.parametrize("status", [429, 503])
async def test_overloaded_elasticsearch_is_service_unavailable(
    server: FakeElasticsearch, store: ElasticsearchPatientStore, status: int
) -> None:
    # The client retries twice before giving up.
    server.answer(status, error_answer("es_rejected_execution_exception", status), times=3)

    with pytest.raises(ServiceUnavailable, match=f"overloaded or unavailable \\({status}"):
        await store.save(fixture_record())


async def test_unreachable_elasticsearch_is_service_unavailable_naming_the_url_not_the_password(
    server: FakeElasticsearch, make_store: Callable[[str], ElasticsearchPatientStore]
) -> None:
    store = make_store("http://mme:s3cret@es.test:9200")
    for _ in range(3):
        server.fail(httpx.ConnectError("connection refused"))

    with pytest.raises(ServiceUnavailable) as raised:
        await store.get("clinic-a", "P0001")

    assert "Elasticsearch is not answering at http://es.test:9200" in raised.value.message
    assert "s3cret" not in raised.value.message
    await store.close()


async def test_refused_credentials_are_service_unavailable(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(401, error_answer("security_exception", 401))

    with pytest.raises(ServiceUnavailable, match="credentials"):
        await store.count()


async def test_a_missing_privilege_is_reported_as_such_not_as_bad_credentials(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    reason = (
        "action [indices:admin/aliases] is unauthorized for user [mme_node] with effective "
        "roles [mme_node], this action is granted by the index privileges [manage,all]"
    )
    server.answer(403, {"error": {"type": "security_exception", "reason": reason}, "status": 403})

    with pytest.raises(ServiceUnavailable, match="denied the node's user a privilege") as raised:
        await store.count()

    assert "index privileges [manage,all]" in raised.value.message
    assert "credentials" not in raised.value.message


async def test_other_refusals_are_node_errors_naming_the_elasticsearch_error(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(400, error_answer("mapper_parsing_exception", 400))

    with pytest.raises(MMEError, match="mapper_parsing_exception") as raised:
        await store.count()

    assert not isinstance(raised.value, ServiceUnavailable)


async def test_delete_waits_for_refresh(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"result": "deleted"})

    await store.delete("clinic-a", "P0001")

    assert (server.last.method, server.last.url.path) == (
        "DELETE",
        f"{WRITE}/_doc/{document_id('clinic-a', 'P0001')}",
    )
    assert params(server.last) == {"refresh": "wait_for", "timeout": "5s"}


async def test_delete_of_a_missing_patient_is_not_found(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, {"_index": INDEX, "_id": "x", "result": "not_found"})

    with pytest.raises(NotFound, match="P0001"):
        await store.delete("clinic-a", "P0001")


# -- reads --------------------------------------------------------------------


async def test_get_returns_the_stored_record(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    record = fixture_record(version=3)
    server.answer(200, found(record))

    assert await store.get("clinic-a", "P0001") == record
    assert server.last.url.path == f"{READ}/_doc/{document_id('clinic-a', 'P0001')}"


async def test_documents_are_read_many_at_once_through_the_alias_asked(
    server: FakeElasticsearch,
) -> None:
    one = fixture_record("P1")
    server.answer(200, {"docs": [found(one), missing("P2")]})
    ids = [document_id("clinic-a", "P1"), document_id("clinic-a", "P2")]
    client = connect(URL, node_class=node_answered_by(server))
    documents = DocumentWriter(
        client, "mme-test-write", where=URL, backoff=Backoff(), require_alias=True
    )

    read = await documents.read_many(ids, through="mme-test-read")
    await client.close()

    assert server.last.url.path == f"{READ}/_mget"
    assert body(server.last) == {"ids": ids}
    assert read[ids[0]] is not None and read[ids[0]].record == one
    assert read[ids[1]] is None


async def test_get_of_a_missing_patient_is_not_found(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, missing())

    with pytest.raises(NotFound, match="P0001"):
        await store.get("clinic-a", "P0001")


async def test_get_many_sends_one_mget_through_the_read_alias(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    record = fixture_record(version=3)
    server.answer(200, {"docs": [missing("P0009"), found(record)]})

    assert await store.get_many([("clinic-a", "P0009"), record.key]) == [None, record]
    assert server.last.url.path == f"{READ}/_mget"
    assert json.loads(server.last.content)["ids"] == [
        document_id("clinic-a", "P0009"),
        document_id(*record.key),
    ]


async def test_get_many_with_a_shard_failing_is_service_unavailable(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    failed = {"_index": INDEX, "_id": "x", "error": {"type": "no_shard_available_action_exception"}}
    server.answer(200, {"docs": [failed]})

    with pytest.raises(ServiceUnavailable, match="no_shard_available"):
        await store.get_many([("clinic-a", "P0001")])


async def test_get_without_an_index_is_service_unavailable(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(404, error_answer("index_not_found_exception", 404))

    with pytest.raises(ServiceUnavailable, match="no patient index"):
        await store.get("clinic-a", "P0001")


async def test_list_sends_a_sorted_page_and_maps_hits_and_total(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    records = (fixture_record("P1"), fixture_record("P2"))
    server.answer(200, search_answer(*records, total=12))

    page = await store.list("clinic-a", offset=10, limit=2)

    assert (page.records, page.total, page.offset, page.limit) == (records, 12, 10, 2)
    sent = body(server.last)
    assert server.last.url.path == f"{READ}/_search"
    assert params(server.last) == {"allow_partial_search_results": "false"}
    assert sent["query"] == {"term": {"owner": "clinic-a"}}
    assert sent["sort"] == [{"patient_id": "asc"}, {"owner": "asc"}]
    assert (sent["from"], sent["size"]) == (10, 2)


async def test_list_beyond_the_result_window_is_refused_before_asking(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    with pytest.raises(InvalidRequest, match="10000"):
        await store.list(None, offset=9_990, limit=50)

    assert server.requests == []


async def test_iter_records_scrolls_through_every_hit(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    one, two = fixture_record("P1"), fixture_record("P2")
    for records in ((one,), (two,), ()):
        server.answer(200, scroll_answer(*records))
    server.answer(200, {"succeeded": True})

    seen = [record async for record in store.iter_records()]

    assert seen == [one, two]
    assert server.requests[0].url.path == f"{READ}/_search"


async def test_iter_records_answered_by_some_shards_only_is_service_unavailable(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, scroll_answer(fixture_record("P1"), successful=0))
    server.answer(200, {"succeeded": True})

    with pytest.raises(ServiceUnavailable, match="only some shards"):
        [record async for record in store.iter_records()]


async def test_count_counts_through_the_read_alias(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"count": 1234})

    assert await store.count() == 1234
    assert server.last.url.path == f"{READ}/_count"


async def test_health_reports_a_silent_elasticsearch_as_down_without_raising(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.fail(httpx.ConnectError("connection refused"))

    health = await store.health()

    assert not health.ok
    assert health.kind == "elasticsearch"
    assert "not answering at http://es.test:9200" in health.detail


async def test_health_of_an_answering_elasticsearch_counts_patients(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"count": 3})

    health = await store.health()

    assert health.ok
    assert health.detail.startswith("3 patients")


# -- bulk import ---------------------------------------------------------------


async def test_import_many_bulk_creates_new_and_replaces_stored_patients(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    stored = fixture_record("P1", version=2)
    server.answer(200, {"docs": [found(stored, seq_no=5, primary_term=1), missing("P2")]})
    p1_id, p2_id = document_id("clinic-a", "P1"), document_id("clinic-a", "P2")
    server.answer(
        200,
        {
            "took": 3,
            "errors": False,
            "items": [
                {"index": {"_index": INDEX, "_id": p1_id, "status": 200, "result": "updated"}},
                {"create": {"_index": INDEX, "_id": p2_id, "status": 201, "result": "created"}},
            ],
        },
    )
    server.answer(200, {"_shards": {"total": 1}})
    progress: list[int] = []

    report = await store.import_many(
        [fixture_record("P1"), fixture_record("P2")], on_progress=progress.append
    )

    assert (report.imported, report.rejected, progress) == (2, [], [2])
    mget, bulk = server.requests[:2]
    assert (mget.method, mget.url.path) == ("POST", f"{WRITE}/_mget")
    assert (bulk.method, bulk.url.path) == ("PUT", f"{WRITE}/_bulk")
    assert params(bulk) == {"require_alias": "true", "timeout": "5s"}
    lines = ndjson(bulk)
    assert lines[0] == {"index": {"_id": p1_id, "if_seq_no": 5, "if_primary_term": 1}}
    assert (lines[1]["version"], json.loads(lines[1]["record"])["created"]) == (
        3,
        CREATED.isoformat(),
    )
    assert lines[2] == {"create": {"_id": p2_id}}
    assert lines[3]["version"] == 1
    assert (server.last.method, server.last.url.path) == ("POST", f"{WRITE}/_refresh")


async def test_import_many_reports_records_elasticsearch_refused(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"docs": [missing("P1"), missing("P2")]})
    p1_id, p2_id = document_id("clinic-a", "P1"), document_id("clinic-a", "P2")
    refused = error_answer("mapper_parsing_exception", 400)["error"]
    server.answer(
        200,
        {
            "took": 3,
            "errors": True,
            "items": [
                {"create": {"_index": INDEX, "_id": p1_id, "status": 400, "error": refused}},
                {"create": {"_index": INDEX, "_id": p2_id, "status": 409, "error": refused}},
            ],
        },
    )
    server.answer(200, {"_shards": {"total": 1}})

    report = await store.import_many([fixture_record("P1"), fixture_record("P2")])

    assert report.imported == 0
    assert [r.patient_id for r in report.rejected] == ["P1", "P2"]
    assert report.rejected[0].reason.startswith("mapper_parsing_exception")
    assert "another writer" in report.rejected[1].reason


async def test_import_many_without_an_index_says_so_instead_of_rejecting_each_record(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    no_index = error_answer("index_not_found_exception", 404)["error"]
    server.answer(200, {"docs": [{"_index": "mme-test-write", "_id": "x", "error": no_index}]})

    with pytest.raises(ServiceUnavailable, match="no patient index"):
        await store.import_many([fixture_record("P1")])

    assert len(server.requests) == 1


async def test_import_many_into_a_write_blocked_index_is_service_unavailable(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"docs": [missing("P1")]})
    blocked = error_answer("cluster_block_exception", 403)["error"]
    p1_id = document_id("clinic-a", "P1")
    server.answer(
        200,
        {"errors": True, "items": [{"create": {"_id": p1_id, "status": 403, "error": blocked}}]},
    )

    with pytest.raises(ServiceUnavailable, match="does not accept writes"):
        await store.import_many([fixture_record("P1")])


async def test_import_many_starts_a_new_batch_when_a_patient_repeats(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    p1_id = document_id("clinic-a", "P1")
    for seq_no in (None, 0):
        docs = [missing("P1")] if seq_no is None else [found(fixture_record("P1"), seq_no, 1)]
        server.answer(200, {"docs": docs})
        server.answer(200, {"items": [{"index": {"_id": p1_id, "status": 200}}], "errors": False})
    server.answer(200, {"_shards": {"total": 1}})
    progress: list[int] = []

    report = await store.import_many(
        [fixture_record("P1"), fixture_record("P1")], on_progress=progress.append
    )

    assert report.imported == 2
    assert progress == [1, 1]


async def test_import_many_stops_with_service_unavailable_when_elasticsearch_goes_away(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    for _ in range(3):
        server.fail(httpx.ConnectError("connection refused"))

    with pytest.raises(ServiceUnavailable):
        await store.import_many([fixture_record("P1")])


# -- HPO release swap -------------------------------------------------------------

NEW_INDEX = "mme-test-2025-01-16"


def plan_rebuild_start(server: FakeElasticsearch, *records: PatientRecord) -> None:
    """Answers up to the end of the scroll over the old index holding ``records``."""
    for alias in ("mme-test-read", "mme-test-write"):
        server.answer(200, {INDEX: {"aliases": {alias: {}}}})
    server.answer(
        200,
        {
            "acknowledged": True,
            "shards_acknowledged": True,
            "indices": [{"name": INDEX, "blocked": True}],
        },
    )
    server.answer(200, {"acknowledged": True})  # delete a left-over new index
    server.answer(200, {"acknowledged": True, "index": NEW_INDEX})
    server.answer(200, {"_shards": {"total": 1, "successful": 1, "failed": 0}})
    server.answer(200, {"count": len(records), "_shards": {"total": 1, "failed": 0}})
    server.answer(200, scroll_answer(*records))
    server.answer(200, scroll_answer())
    server.answer(200, {"succeeded": True})


async def test_swap_release_blocks_rebuilds_checks_then_moves_both_aliases_at_once(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    plan_rebuild_start(server, fixture_record("P1"))
    p1_id = document_id("clinic-a", "P1")
    server.answer(200, {"errors": False, "items": [{"create": {"_id": p1_id, "status": 201}}]})
    server.answer(200, {"_shards": {"total": 1, "successful": 1, "failed": 0}})
    server.answer(200, {"count": 1, "_shards": {"total": 1, "failed": 0}})
    server.answer(200, {"acknowledged": True})  # aliases
    server.answer(200, {"acknowledged": True})  # delete the old index

    rebuilt = await store.swap_release("2025-01-16", TinyWeights())

    calls = [(r.method, r.url.path) for r in server.requests]
    assert calls == [
        ("GET", "/_alias/mme-test-read"),
        ("GET", "/_alias/mme-test-write"),
        ("PUT", f"/{INDEX}/_block/write"),
        ("DELETE", f"/{NEW_INDEX}"),
        ("PUT", f"/{NEW_INDEX}"),
        ("POST", f"/{INDEX}/_refresh"),
        ("POST", f"/{INDEX}/_count"),
        ("POST", f"/{INDEX}/_search"),
        ("POST", "/_search/scroll"),
        ("DELETE", "/_search/scroll"),
        ("PUT", f"/{NEW_INDEX}/_bulk"),
        ("POST", f"/{NEW_INDEX}/_refresh"),
        ("POST", f"/{NEW_INDEX}/_count"),
        ("POST", "/_aliases"),
        ("DELETE", f"/{INDEX}"),
    ]
    deadlines = {"master_timeout": "30s", "timeout": "30s"}
    block, create, scan, bulk, aliases = (server.requests[i] for i in (2, 4, 7, 10, 13))
    assert params(block) == deadlines
    assert "aliases" not in body(create)
    assert params(scan) == {"scroll": "5m", "allow_partial_search_results": "false"}
    assert ndjson(bulk)[0] == {"create": {"_id": p1_id}}
    assert ndjson(bulk)[1]["hpo_release"] == "2025-01-16"
    assert params(aliases) == deadlines
    assert body(aliases)["actions"] == [
        {"remove": {"index": INDEX, "alias": "mme-test-read", "must_exist": True}},
        {"remove": {"index": INDEX, "alias": "mme-test-write", "must_exist": True}},
        {"add": {"index": NEW_INDEX, "alias": "mme-test-read"}},
        {"add": {"index": NEW_INDEX, "alias": "mme-test-write", "is_write_index": True}},
    ]
    assert (rebuilt, store.index, store.hpo_release) == (1, NEW_INDEX, "2025-01-16")


async def test_swap_release_failing_a_record_reopens_the_old_index_and_drops_the_new(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    plan_rebuild_start(server, fixture_record("P1"))
    for alias in ("mme-test-read", "mme-test-write"):
        server.answer(200, {INDEX: {"aliases": {alias: {}}}})
    server.answer(200, {"acknowledged": True})
    server.answer(200, {"acknowledged": True})

    def forget_terms(record: PatientRecord) -> PatientRecord:
        raise ValueError("HP:0001250 is obsolete without replacement")

    with pytest.raises(MMEError, match="P1: HP:0001250 is obsolete"):
        await store.swap_release("2025-01-16", TinyWeights(), renormalise=forget_terms)

    unblock, clean_up = server.requests[-2:]
    assert (unblock.url.path, body(unblock)) == (
        f"/{INDEX}/_settings",
        {"index.blocks.write": None},
    )
    assert (clean_up.method, clean_up.url.path) == ("DELETE", f"/{NEW_INDEX}")
    assert (store.index, store.hpo_release) == (INDEX, RELEASE)


async def test_swap_release_to_the_live_release_changes_nothing(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    for alias in ("mme-test-read", "mme-test-write"):
        server.answer(200, {NEW_INDEX: {"aliases": {alias: {}}}})

    assert await store.swap_release("2025-01-16", TinyWeights()) == 0

    assert [r.method for r in server.requests] == ["GET", "GET"]
    assert (store.index, store.hpo_release) == (NEW_INDEX, "2025-01-16")


async def test_swap_release_with_aliases_on_different_indexes_is_refused(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(200, {"mme-test-2023-10-09": {"aliases": {"mme-test-read": {}}}})
    server.answer(200, {INDEX: {"aliases": {"mme-test-write": {}}}})

    with pytest.raises(MMEError, match="aliases disagree"):
        await store.swap_release("2025-01-16", TinyWeights())

    assert [r.method for r in server.requests] == ["GET", "GET"]


async def test_swap_release_whose_block_is_not_confirmed_does_not_start(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    for alias in ("mme-test-read", "mme-test-write"):
        server.answer(200, {INDEX: {"aliases": {alias: {}}}})
    failed_shard = {"name": INDEX, "failed_shards": [{"id": "0", "failures": []}]}
    server.answer(
        200, {"acknowledged": False, "shards_acknowledged": False, "indices": [failed_shard]}
    )
    server.answer(200, {"acknowledged": True})

    with pytest.raises(ServiceUnavailable, match="could not confirm that every shard"):
        await store.swap_release("2025-01-16", TinyWeights())

    assert (server.last.url.path, body(server.last)) == (
        f"/{INDEX}/_settings",
        {"index.blocks.write": None},
    )


async def test_writes_during_a_release_swap_are_service_unavailable(
    server: FakeElasticsearch, store: ElasticsearchPatientStore
) -> None:
    server.answer(403, error_answer("cluster_block_exception", 403))

    with pytest.raises(ServiceUnavailable, match="does not accept writes"):
        await store.delete("clinic-a", "P1")


# -- settings -------------------------------------------------------------------


def test_store_from_settings_needs_a_url() -> None:
    with pytest.raises(MMEError, match="elasticsearch_url"):
        elasticsearch_store_from_settings(Settings(store="elasticsearch"), TinyWeights())


@pytest.mark.parametrize(
    ("url", "ca_file", "complaint"),
    [
        ("es.example:9200", "", "must start with http:// or https://"),
        ("http://es.example:9200", "/etc/ssl/certs/ca.pem", "applies to TLS only"),
        ("https://es.example:9200", "/nonexistent/ca.pem", "cannot read '/nonexistent/ca.pem'"),
    ],
)
def test_store_from_settings_refuses_connection_settings_that_cannot_work(
    url: str, ca_file: str, complaint: str
) -> None:
    settings = Settings(store="elasticsearch", elasticsearch_url=url, elasticsearch_ca_file=ca_file)

    with pytest.raises(MMEError, match=complaint):
        elasticsearch_store_from_settings(settings, TinyWeights())


async def test_store_from_settings_uses_the_release_index() -> None:
    settings = Settings(
        store="elasticsearch",
        elasticsearch_url="https://es.example:9200",
        elasticsearch_username="mme_node",
        elasticsearch_password="not-a-real-password",
    )

    store = elasticsearch_store_from_settings(settings, TinyWeights(), hpo_release="v2025-01-16")

    assert store.index == "mme-patients-v2025-01-16"
    assert store.names.read_alias == "mme-patients-read"
    await store.close()
