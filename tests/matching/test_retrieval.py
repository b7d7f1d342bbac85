"""Matching on Elasticsearch: candidates retrieved by the store, then scored exactly.

Without a server, the real :class:`ElasticsearchPatientStore` talks to an
in-memory Elasticsearch that holds the store's own documents
(``patient_document``) and evaluates the store's own ``_msearch`` bodies:
``bool`` with filters, ``must_not`` and ``should`` clauses that add up,
``term`` clauses scoring exactly their boost on fields the mapping gives the
boolean similarity, ``terms``, ``exists``, ``constant_score``. A clause it
does not model fails the test, so a change to the queries cannot slip past
a stale fake. With ``ELASTICSEARCH_URL`` set, the same recall check runs
against a real server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from elastic_transport import HttpxAsyncHttpNode, NodeConfig

from hpo import Release
from mme_node.matching.index import PatientKey
from mme_node.matching.matcher import Matcher, RankedCandidate
from mme_node.matching.retrieval import CandidateRetrieval, candidate_source
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.matching.weights import ReleaseTermWeights
from mme_node.model import (
    Consent,
    Contact,
    DisclosureLevel,
    Feature,
    Gene,
    GenomicFeature,
    MatchResult,
    OntologyClass,
    Patient,
    PatientRecord,
    Sharing,
    Variant,
)
from mme_node.security.consent import PeerScope
from mme_node.stores.elastic import ElasticsearchPatientStore, connect
from mme_node.stores.elastic.mapping import (
    MAPPING,
    Document,
    clinical_picture,
    document_id,
    patient_document,
)
from mme_node.stores.elastic.queries import informative_terms, phenotype_search
from mme_node.stores.sqlite import SQLitePatientStore

pytestmark = pytest.mark.anyio

URL = "http://es.test:9200"
OWNER = "clinic-a"
PHENOTYPIC_ABNORMALITY = "HP:0000118"
COHORT_SIZE = 600
QUERIES = 120
TOP = 10
RECALL_DEPTH = 300
"""Candidates per search from which every query's best 10 equal exhaustive exact scoring.

Measured on this cohort (494 real patients) with the default phenotype model
and retrieval by pictures: 99% of the queries at depth 200, all at 300
(docs/elasticsearch.md has figures for larger cohorts).
"""

ELASTICSEARCH_SKIP_REASON = "ELASTICSEARCH_URL not set: Elasticsearch recall test skipped"


# -- a cohort of real HPO terms ------------------------------------------------


@dataclass(frozen=True)
class Disease:
    """A synthetic disease: terms of one to three organ systems, a gene and its variants."""

    terms: tuple[str, ...]
    gene: Gene
    variants: tuple[Variant, ...]
    disorder: str


@dataclass(frozen=True)
class Cohort:
    records: tuple[PatientRecord, ...]
    queries: tuple[tuple[Patient, PatientKey | None], ...]
    """New patients (no exclusion) and stored patients matched against the rest."""


def diseases(release: Release, annotated: Sequence[str], chance: random.Random) -> list[Disease]:
    ontology = release.ontology
    usable = set(annotated)
    systems = [
        [
            term
            for term in (ontology.term_id(int(i)) for i in ontology.descendants(top))
            if term in usable
        ]
        for top in (t for t in ontology if PHENOTYPIC_ABNORMALITY in ontology.parent_ids(t))
    ]
    systems = [terms for terms in systems if len(terms) >= 20]
    found = []
    for number in range(150):
        pool: list[str] = []
        for system in chance.sample(systems, chance.randint(1, 3)):
            pool += chance.sample(system, chance.randint(3, 8))
        gene = Gene(id=f"GENE{number}", hgnc_id=f"HGNC:{90000 + number}", symbol=f"GENE{number}")
        variants = tuple(
            Variant("GRCh37", "2", 1_000_000 * number + offset, None, "C", "T")
            for offset in range(chance.randint(1, 3))
        )
        found.append(Disease(tuple(dict.fromkeys(pool)), gene, variants, f"OMIM:{600000 + number}"))
    return found


def patient_of(
    disease: Disease,
    patient_id: str,
    release: Release,
    annotated: Sequence[str],
    chance: random.Random,
) -> Patient:
    """A patient of ``disease``: 1 to 20 of its terms (some less precise), noise, maybe a gene."""
    ontology = release.ontology
    terms = chance.sample(disease.terms, min(len(disease.terms), chance.randint(1, 20)))
    imprecise = [
        chance.choice(ontology.parent_ids(term)) if chance.random() < 0.2 else term
        for term in terms
    ]
    noise = chance.sample(annotated, chance.choice((0, 0, 1, 2, 3)))
    observed = list(dict.fromkeys(imprecise + noise))
    excluded = [t for t in chance.sample(annotated, 2) if t not in observed]
    features = [Feature(term) for term in observed]
    if chance.random() < 0.1:
        features += [Feature(term, observed=False) for term in excluded]
    genomic: list[GenomicFeature] = []
    if chance.random() < 0.5:
        variant = chance.choice(disease.variants) if chance.random() < 0.3 else None
        genomic.append(GenomicFeature(disease.gene, variant))
    disorders = (OntologyClass(disease.disorder),) if chance.random() < 0.05 else ()
    return Patient(
        id=patient_id,
        contact=Contact(name="Dr. Example", href="mailto:clinic@example.org"),
        features=tuple(features),
        genomic_features=tuple(genomic),
        disorders=disorders,
        test=chance.random() < 0.15,
    )


@pytest.fixture(scope="module")
def cohort(bundled_release: Release, annotated_terms: list[str]) -> Cohort:
    chance = random.Random(20240426)
    pool = diseases(bundled_release, annotated_terms, chance)
    records = tuple(
        PatientRecord(
            owner=OWNER,
            patient=patient_of(
                chance.choice(pool), f"case-{n:04d}", bundled_release, annotated_terms, chance
            ),
            hpo_release=bundled_release.version,
            submitted_json="{}",
        )
        for n in range(COHORT_SIZE)
    )
    new: list[tuple[Patient, PatientKey | None]] = [
        (
            patient_of(chance.choice(pool), f"query-{n}", bundled_release, annotated_terms, chance),
            None,
        )
        for n in range(QUERIES // 2)
    ]
    stored: list[tuple[Patient, PatientKey | None]] = [
        (r.patient, r.key) for r in chance.sample(records, QUERIES - len(new))
    ]
    return Cohort(records, tuple(new + stored))


# -- an in-memory Elasticsearch ---------------------------------------------------


class UnmodelledQuery(AssertionError):
    """The store sent a request the in-memory Elasticsearch cannot answer faithfully."""


def boolean_similarity_fields(properties: Document, prefix: str = "") -> frozenset[str]:
    """Fields whose ``term`` matches score exactly their boost (``similarity: boolean``)."""
    found: set[str] = set()
    for name, spec in properties.items():
        if "properties" in spec:
            found |= boolean_similarity_fields(spec["properties"], f"{prefix}{name}.")
        elif spec.get("similarity") == "boolean":
            found.add(f"{prefix}{name}")
    return frozenset(found)


BOOLEAN_FIELDS = boolean_similarity_fields(MAPPING["properties"])

Hits = dict[int, float]
"""Matching documents (by indexing order) and their scores."""


def indexed_values(document: Document, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(field, value)`` an index of ``document`` holds (objects flattened, lists spread)."""
    for name, value in document.items():
        if isinstance(value, dict):
            yield from indexed_values(value, f"{prefix}{name}.")
        elif isinstance(value, list):
            yield from ((f"{prefix}{name}", item) for item in value)
        else:
            yield f"{prefix}{name}", value


class InMemoryElasticsearch:
    """Holds documents in postings lists and answers ``_msearch`` (and ``_count``).

    A search scores like Elasticsearch for the clauses the store sends: a
    ``bool`` matches when all filters, none of its ``must_not`` clauses and
    ``minimum_should_match`` of its ``should`` clauses match (1 by default
    when it has ``should`` clauses and no filter, else 0), scoring the sum of
    those; ``constant_score`` and ``terms`` score their boost; a ``term``
    scores its boost on a field of boolean similarity; ``exists`` matches a
    document with a value in the field; filters score nothing. Hits are
    ordered by score, ties by indexing order, as in a one-shard index.
    """

    def __init__(self, documents: dict[str, Document]) -> None:
        self.ids = list(documents)
        self.sources = list(documents.values())
        self.postings: dict[tuple[str, Any], list[int]] = {}
        self.valued: dict[str, set[int]] = {}
        for number, document in enumerate(self.sources):
            for entry in set(indexed_values(document)):
                self.postings.setdefault(entry, []).append(number)
                self.valued.setdefault(entry[0], set()).add(number)
        self.searches: list[Document] = []
        self.answered: list[int] = []
        """Distinct patients returned by each ``_msearch``."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/_msearch"):
            lines = [json.loads(line) for line in request.content.splitlines() if line.strip()]
            bodies = lines[1::2]
            self.searches += bodies
            body: Document = {"took": 1, "responses": [self.search(b) for b in bodies]}
            returned = {
                hit["_id"] for answer in body["responses"] for hit in answer["hits"]["hits"]
            }
            self.answered.append(len(returned))
        elif path.endswith("/_count"):
            body = {"count": len(self.ids)}
        else:
            raise UnmodelledQuery(f"{request.method} {path}")
        return httpx.Response(200, json=body, headers={"X-Elastic-Product": "Elasticsearch"})

    def search(self, body: Document) -> Document:
        unknown = set(body) - {"size", "track_total_hits", "_source", "query"}
        if unknown:
            raise UnmodelledQuery(f"search with {sorted(unknown)}")
        found = self.matches(body["query"])
        best = sorted(found, key=lambda number: (-found[number], number))[: body["size"]]
        hits = [
            {
                "_id": self.ids[number],
                "_score": found[number],
                "_source": {field: self.sources[number][field] for field in body["_source"]},
            }
            for number in best
        ]
        return {"took": 1, "timed_out": False, "hits": {"hits": hits}}

    def matches(self, query: Document, *, scoring: bool = True) -> Hits:
        """The documents ``query`` matches, with their scores (0 in filter context)."""
        [(kind, body)] = query.items()
        if kind == "bool":
            return self._bool(body, scoring)
        if kind == "constant_score":
            boost = float(body.get("boost", 1.0)) if scoring else 0.0
            return dict.fromkeys(self.matches(body["filter"], scoring=False), boost)
        if kind == "terms":
            [(field, values)] = body.items()
            matched = {n for value in values for n in self.postings.get((field, value), ())}
            return dict.fromkeys(matched, 1.0 if scoring else 0.0)
        if kind == "term":
            [(field, value)] = body.items()
            boost = 1.0
            if isinstance(value, dict):
                value, boost = value["value"], value.get("boost", 1.0)
            if scoring and field not in BOOLEAN_FIELDS:
                raise UnmodelledQuery(f"a scored term query on {field} (BM25 is not modelled)")
            postings = self.postings.get((field, value), [])
            return dict.fromkeys(postings, float(boost) if scoring else 0.0)
        if kind == "exists":
            [(name, field)] = body.items()
            if name != "field":
                raise UnmodelledQuery(f"exists with {name}")
            return dict.fromkeys(self.valued.get(field, ()), 1.0 if scoring else 0.0)
        raise UnmodelledQuery(f"{kind} queries")

    def _bool(self, body: Document, scoring: bool) -> Hits:
        unknown = set(body) - {"filter", "must_not", "should", "minimum_should_match"}
        if unknown:
            raise UnmodelledQuery(f"bool with {sorted(unknown)}")
        scores: dict[int, float] = {}
        counts: dict[int, int] = {}
        for clause in body.get("should", []):
            for number, score in self.matches(clause, scoring=scoring).items():
                scores[number] = scores.get(number, 0.0) + score
                counts[number] = counts.get(number, 0) + 1
        filters = [set(self.matches(f, scoring=False)) for f in body.get("filter", [])]
        default = 1 if body.get("should") and not body.get("filter") else 0
        needed = body.get("minimum_should_match", default)
        candidates = set(range(len(self.ids))) if needed == 0 else set(scores)
        for allowed in filters:
            candidates &= allowed
        for clause in body.get("must_not", []):
            candidates -= set(self.matches(clause, scoring=False))
        return {n: scores.get(n, 0.0) for n in candidates if counts.get(n, 0) >= needed}


def elasticsearch_documents(
    records: Sequence[PatientRecord], release: Release
) -> dict[str, Document]:
    weights = ReleaseTermWeights(release)
    return {document_id(*r.key): patient_document(r, weights) for r in records}


def store_answered_by(server: InMemoryElasticsearch, release: Release) -> ElasticsearchPatientStore:
    """The real store, its HTTP answered by ``server``."""

    class InMemoryNode(HttpxAsyncHttpNode):
        def __init__(self, config: NodeConfig) -> None:
            super().__init__(config)
            self.client = httpx.AsyncClient(
                base_url=self.base_url, transport=httpx.MockTransport(server.handle)
            )

    return ElasticsearchPatientStore(
        URL,
        hpo_release=release.version,
        term_weights=ReleaseTermWeights(release),
        client=connect(URL, node_class=InMemoryNode),
    )


@pytest.fixture(scope="module")
def documents(cohort: Cohort, bundled_release: Release) -> dict[str, Document]:
    return elasticsearch_documents(cohort.records, bundled_release)


@pytest.fixture
async def elastic(
    documents: dict[str, Document], bundled_release: Release
) -> AsyncIterator[tuple[InMemoryElasticsearch, ElasticsearchPatientStore]]:
    server = InMemoryElasticsearch(documents)
    store = store_answered_by(server, bundled_release)
    try:
        yield server, store
    finally:
        await store.close()


@pytest.fixture(scope="module")
def exhaustive(
    cohort: Cohort, bundled_release: Release, tmp_path_factory: pytest.TempPathFactory
) -> Matcher:
    """The embedded store's matcher: every patient of the cohort in memory, all scored."""
    store = SQLitePatientStore(tmp_path_factory.mktemp("unused") / "never-opened.sqlite3")
    matcher = Matcher(Serving.of(bundled_release), store, ScoringWeights())
    for record in cohort.records:
        matcher.index.add(record)
    return matcher


# -- comparing rankings ------------------------------------------------------------


def same_best(everyone: Sequence[RankedCandidate], found: Sequence[MatchResult], top: int) -> bool:
    """Whether ``found`` is a best ``top`` of the full exact ranking ``everyone``.

    Equal scores in the same order, and the same patients, except that any of
    several patients tied at the last score may stand for another.
    """
    best = everyone[:top]
    if [r.score for r in found] != [c.score for c in best]:
        return False
    if not best:
        return True
    last = best[-1].score
    above = {c.key for c in best if c.score > last}
    tied = {c.key for c in everyone if c.score == last}
    keys = [r.record.key for r in found]
    return (
        len(set(keys)) == len(keys)
        and above == {k for k, r in zip(keys, found, strict=True) if r.score > last}
        and all(k in tied for k, r in zip(keys, found, strict=True) if r.score == last)
    )


async def queries_matching_exactly(
    retrieving: Matcher, exhaustive: Matcher, queries: Sequence[tuple[Patient, PatientKey | None]]
) -> int:
    agreeing = 0
    for query, own in queries:
        everyone = exhaustive.rank(query, COHORT_SIZE, 0.0, own)
        found = await retrieving.match(query, limit=TOP, exclude=own)
        agreeing += same_best(everyone, found, TOP)
    return agreeing


# -- the in-memory Elasticsearch models the store's queries ------------------------


def test_phenotype_search_scores_a_patient_by_the_summed_ic_of_shared_ancestors(
    cohort: Cohort, documents: dict[str, Document], bundled_release: Release
) -> None:
    weights = ReleaseTermWeights(bundled_release)
    query = cohort.queries[0][0]
    shared_ic = dict(informative_terms(query, weights))
    phenotype = phenotype_search(list(shared_ic.items()), 10, test=query.test)
    assert phenotype is not None
    server = InMemoryElasticsearch(documents)
    order = {doc_id: number for number, doc_id in enumerate(server.ids)}
    scores = server.matches(phenotype["query"])
    checked = 0
    for record in cohort.records[:100]:
        if record.patient.test != query.test:
            continue
        closure = weights.closure(clinical_picture(record.patient))
        expected = sum(ic for term, ic in shared_ic.items() if term in closure)
        score = scores.get(order[document_id(*record.key)], 0.0)
        assert score == pytest.approx(expected)
        checked += 1
    assert checked > 50


def test_in_memory_elasticsearch_refuses_a_query_it_does_not_model() -> None:
    server = InMemoryElasticsearch({"1": {"owner": "a", "phenotype_closure": ["HP:1"]}})

    with pytest.raises(UnmodelledQuery, match="BM25"):
        server.matches({"bool": {"should": [{"term": {"owner": "a"}}]}})
    with pytest.raises(UnmodelledQuery, match="match"):
        server.matches({"match": {"owner": "a"}})
    with pytest.raises(UnmodelledQuery, match="must"):
        server.matches({"bool": {"must": [{"term": {"owner": "a"}}]}})


def test_cohort_holds_shared_genes_variants_disorders_exclusions_and_test_patients(
    cohort: Cohort,
) -> None:
    patients = [r.patient for r in cohort.records]
    assert sum(bool(p.gene_ids) for p in patients) > 200
    assert sum(bool(p.variant_keys) for p in patients) > 50
    assert sum(bool(p.disorders) for p in patients) > 10
    assert sum(bool(p.excluded_terms) for p in patients) > 30
    assert sum(p.test for p in patients) > 50
    assert {len(p.observed_terms) for p in patients} >= set(range(1, 16))


# -- the matcher on a store that retrieves candidates -----------------------------


async def test_only_a_store_with_candidates_is_a_candidate_source(
    tmp_path: Path, elastic: tuple[InMemoryElasticsearch, ElasticsearchPatientStore]
) -> None:
    sqlite = SQLitePatientStore(tmp_path / "mme-node.sqlite3")

    assert candidate_source(sqlite) is None
    assert candidate_source(elastic[1]) is elastic[1]


async def test_retrieval_depth_must_be_positive(
    elastic: tuple[InMemoryElasticsearch, ElasticsearchPatientStore],
) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CandidateRetrieval(elastic[1], 0)


async def test_matcher_on_elasticsearch_counts_patients_and_keeps_none_in_memory(
    elastic: tuple[InMemoryElasticsearch, ElasticsearchPatientStore],
    bundled_release: Release,
) -> None:
    matcher = Matcher(Serving.of(bundled_release), elastic[1], ScoringWeights())

    assert await matcher.load() == COHORT_SIZE
    assert len(matcher.index) == 0
    assert len((await matcher.build_state(bundled_release)).index) == 0


async def test_matcher_asks_for_more_candidates_than_the_limit_whatever_the_depth(
    elastic: tuple[InMemoryElasticsearch, ElasticsearchPatientStore],
    bundled_release: Release,
    cohort: Cohort,
) -> None:
    server, store = elastic
    matcher = Matcher(Serving.of(bundled_release), store, ScoringWeights(), retrieval_depth=3)

    await matcher.match(cohort.queries[0][0], limit=20)

    assert {search["size"] for search in server.searches} == {21}


async def test_retrieval_matches_only_test_patients_for_a_test_query(
    elastic: tuple[InMemoryElasticsearch, ElasticsearchPatientStore],
    bundled_release: Release,
    cohort: Cohort,
) -> None:
    matcher = Matcher(Serving.of(bundled_release), elastic[1], ScoringWeights())
    query = next(q for q, own in cohort.queries if q.test and own is None)

    found = await matcher.match(query, limit=TOP)

    assert found
    assert all(result.record.patient.test for result in found)


async def test_retrieval_at_full_depth_answers_like_the_embedded_store(
    tmp_path: Path, cohort: Cohort, bundled_release: Release
) -> None:
    records = cohort.records[:120]
    sqlite = SQLitePatientStore(tmp_path / "mme-node.sqlite3")
    await sqlite.open()
    server = InMemoryElasticsearch(elasticsearch_documents(records, bundled_release))
    elastic = store_answered_by(server, bundled_release)
    try:
        await sqlite.import_many(records)
        embedded = Matcher(Serving.of(bundled_release), sqlite, ScoringWeights())
        await embedded.load()
        retrieving = Matcher(
            Serving.of(bundled_release), elastic, ScoringWeights(), retrieval_depth=120
        )
        for query, own in cohort.queries[:: len(cohort.queries) // 20]:
            if own is not None and own not in {r.key for r in records}:
                own = None
            expected = await embedded.match(query, limit=15, exclude=own, with_explanations=True)
            found = await retrieving.match(query, limit=15, exclude=own, with_explanations=True)
            assert [
                (r.record.key, r.score, r.phenotype_score, r.genotype_score, r.explanation)
                for r in found
            ] == [
                (r.record.key, r.score, r.phenotype_score, r.genotype_score, r.explanation)
                for r in expected
            ]
    finally:
        await sqlite.close()
        await elastic.close()


async def test_best_ten_after_retrieval_equal_exact_scoring_of_every_patient(
    elastic: tuple[InMemoryElasticsearch, ElasticsearchPatientStore],
    bundled_release: Release,
    cohort: Cohort,
    exhaustive: Matcher,
) -> None:
    """Recall: from depth 300 of 494 real patients, no query loses one of its best ten."""
    retrieving = Matcher(
        Serving.of(bundled_release), elastic[1], ScoringWeights(), retrieval_depth=RECALL_DEPTH
    )

    agreeing = await queries_matching_exactly(retrieving, exhaustive, cohort.queries)

    assert agreeing == len(cohort.queries)
    real = sum(not record.patient.test for record in cohort.records)
    assert max(elastic[0].answered) < real  # each match scored only some of the patients


def peer_cohort(cohort: Cohort, hidden: int) -> tuple[Patient, list[PatientRecord]]:
    """A query, ``hidden`` stored twins of it no GB peer may see, and the real cohort.

    The twins score 1 against the query, above every other patient: half
    are for this node only, half for US peers only. The cohort's patients
    have no consent of their own (the default lets every peer see them).
    """
    query = next(q for q, own in cohort.queries if own is None and not q.test)
    consents = (
        Consent(Sharing.LOCAL, DisclosureLevel.GENES),
        Consent(Sharing.COUNTRIES, DisclosureLevel.GENES, countries=("US",)),
    )
    twins = [
        PatientRecord(
            owner=OWNER,
            patient=dataclasses.replace(query, id=f"twin-{n}"),
            hpo_release=cohort.records[0].hpo_release,
            submitted_json="{}",
            consent=consents[n % 2],
        )
        for n in range(hidden)
    ]
    return query, twins + [r for r in cohort.records if not r.patient.test]


async def test_a_peer_gets_a_full_page_when_patients_it_may_not_see_score_higher(
    cohort: Cohort, bundled_release: Release
) -> None:
    """Retrieval leaves out what the peer may not see: they take no candidate's place."""
    query, records = peer_cohort(cohort, hidden=40)
    server = InMemoryElasticsearch(elasticsearch_documents(records, bundled_release))
    store = store_answered_by(server, bundled_release)
    matcher = Matcher(Serving.of(bundled_release), store, ScoringWeights(), retrieval_depth=10)
    try:
        for_own_users = await matcher.match(query, limit=10)
        for_peer = await matcher.match(query, limit=10, scope=PeerScope("GB"))
        for_us_peer = await matcher.match(query, limit=10, scope=PeerScope("US"))
    finally:
        await store.close()

    assert [r.record.patient.id for r in for_own_users] == [f"twin-{n}" for n in range(10)]
    assert len(for_peer) == 10
    assert not any(r.record.patient.id.startswith("twin-") for r in for_peer)
    assert {r.record.patient.id for r in for_us_peer} == {f"twin-{n}" for n in range(1, 20, 2)}


async def test_documents_written_before_the_reach_field_are_still_retrieved_for_a_peer(
    cohort: Cohort, bundled_release: Release
) -> None:
    """An index from an older node: its documents have no reach; the consent mask decides."""
    query, records = peer_cohort(cohort, hidden=4)
    documents = elasticsearch_documents(records, bundled_release)
    for document in documents.values():
        del document["reach"]
    store = store_answered_by(InMemoryElasticsearch(documents), bundled_release)
    matcher = Matcher(Serving.of(bundled_release), store, ScoringWeights(), retrieval_depth=50)
    try:
        for_peer = await matcher.match(query, limit=10, scope=PeerScope("GB"))
    finally:
        await store.close()

    assert len(for_peer) == 10
    assert not any(r.record.patient.id.startswith("twin-") for r in for_peer)


# -- against a real Elasticsearch ------------------------------------------------------


@pytest.fixture
async def real_elastic(
    cohort: Cohort, bundled_release: Release
) -> AsyncIterator[ElasticsearchPatientStore]:
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip(ELASTICSEARCH_SKIP_REASON)
    store = ElasticsearchPatientStore(
        url,
        index_prefix=f"mme-test-{uuid.uuid4().hex[:12]}",
        hpo_release=bundled_release.version,
        term_weights=ReleaseTermWeights(bundled_release),
    )
    await store.open()
    try:
        report = await store.import_many(cohort.records)
        assert report.imported == COHORT_SIZE, report.rejected
        yield store
    finally:
        await store.drop()
        await store.close()


async def test_best_ten_from_a_real_elasticsearch_equal_exact_scoring_of_every_patient(
    real_elastic: ElasticsearchPatientStore,
    bundled_release: Release,
    cohort: Cohort,
    exhaustive: Matcher,
) -> None:
    retrieving = Matcher(
        Serving.of(bundled_release), real_elastic, ScoringWeights(), retrieval_depth=RECALL_DEPTH
    )

    agreeing = await queries_matching_exactly(retrieving, exhaustive, cohort.queries)

    assert agreeing == len(cohort.queries)
