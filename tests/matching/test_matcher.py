"""The matcher: every stored patient scored exactly, partitions, exclusions, index in step."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from matching_samples import CONTACT_HREF, MatchingNode, patient_json, snv

from hpo import Method, Release
from mme_node.matching import matcher as matcher_module
from mme_node.matching.matcher import Matcher
from mme_node.matching.phenotype import BLEND, DEFAULT_MODEL, PhenotypeModel, load_model
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.model import Patient
from mme_node.vocabulary.branches import PHENOTYPIC_ABNORMALITY
from tests.loop_checks import awaited_while_held, calling_threads

pytestmark = pytest.mark.anyio

OWNER = "clinic-a"
SEIZURE = "HP:0001250"
TONIC_CLONIC_SEIZURE = "HP:0002069"  # a child of Seizure
MOTOR_SEIZURE = "HP:0020219"  # another child of Seizure
AUTISM = "HP:0000717"
AUTISTIC_BEHAVIOR = "HP:0000729"  # the parent of Autism
GAIT_ATAXIA = "HP:0002066"
VSD = "HP:0001629"
HEARING_LOSS = "HP:0000407"
GENES = ("SCN1A", "KMT2D", "PTEN", "MECP2")


async def store_all(node: MatchingNode, *patients: dict[str, Any], owner: str = OWNER) -> None:
    report = await node.patients.import_many(owner, ((p["id"], p) for p in patients))
    assert report.imported == len(patients), report.rejected


def contradictions(release: Release, query: Patient, other: Patient) -> int:
    """Observed terms of either side that the other side excludes, directly or from above."""
    ontology = release.ontology
    return sum(
        any(ontology.is_descendant_or_self(term, excluded) for excluded in exclusions)
        for observed, exclusions in (
            (other.observed_terms, query.excluded_terms),
            (query.observed_terms, other.excluded_terms),
        )
        for term in observed
    )


def naive_score(release: Release, weights: ScoringWeights, query: Patient, other: Patient) -> float:
    """The combined score of one candidate, written out plainly from the scoring rules."""
    if weights.phenotype_model == BLEND:
        phenotype = naive_blend(release, weights, query, other)
    else:
        phenotype = naive_picture(release, load_model(weights.phenotype_model), query, other)
    parts = []
    if query.observed_terms:
        parts.append((weights.phenotype, phenotype))
    if query.gene_ids:
        parts.append((weights.gene, float(bool(set(query.gene_ids) & set(other.gene_ids)))))
    if query.variant_keys:
        shared = set(query.variant_keys) & set(other.variant_keys)
        parts.append((weights.variant, float(bool(shared))))
    if query.disorders:
        shared = {d.id for d in query.disorders} & {d.id for d in other.disorders}
        parts.append((weights.disorder, float(bool(shared))))
    return sum(w * v for w, v in parts) / sum(w for w, _ in parts)


def naive_blend(release: Release, weights: ScoringWeights, query: Patient, other: Patient) -> float:
    phenotype = 0.0
    if other.observed_terms:
        semantic = release.similarity.profile_similarity(
            query.observed_terms, other.observed_terms, weights.method, normalized=True
        ).score
        mine, theirs = set(query.observed_terms), set(other.observed_terms)
        overlap = len(mine & theirs) / len(mine | theirs)
        phenotype = (1 - weights.exact_terms) * semantic + weights.exact_terms * overlap
    return phenotype * weights.exclusion_penalty ** contradictions(release, query, other)


def naive_picture(release: Release, model: PhenotypeModel, query: Patient, other: Patient) -> float:
    """The weighted mean of the model's features over both pictures, one pair at a time."""
    mine = [*query.observed_terms, *query.excluded_terms]
    theirs = [*other.observed_terms, *other.excluded_terms]
    if not theirs:
        return 0.0
    similarity = release.similarity
    feature = {
        "picture_resnik": similarity.profile_similarity(mine, theirs, "resnik", True).score,
        "picture_simgic": similarity.profile_similarity(mine, theirs, "simgic").score,
        "picture_overlap": len(set(mine) & set(theirs)) / len(set(mine) | set(theirs)),
    }
    return sum(weight * feature[name] for name, weight in model.weights.items())


def random_cohort(
    release: Release, terms: list[str], query: dict[str, Any], size: int, seed: int
) -> list[dict[str, Any]]:
    """Random patients of real terms; some contradict the query, share its gene or variant."""
    ontology = release.ontology
    ic = release.information_content.values
    chance = random.Random(seed)
    query_observed = [f["id"] for f in query["features"] if "observed" not in f]
    query_excluded = [f["id"] for f in query["features"] if f.get("observed") == "no"]
    cohort = []
    for number in range(size):
        observed = chance.sample(terms, chance.randint(0, 10))
        excluded: list[str] = []
        if query_excluded and chance.random() < 0.25:
            below = ontology.descendants(chance.choice(query_excluded))
            observed.append(ontology.term_id(int(chance.choice(below))))
        if chance.random() < 0.25:
            # Strictly below Phenotypic abnormality: the category itself is no phenotype.
            above = [
                a
                for a in ontology.ancestors(chance.choice(query_observed))
                if ic[a] > 0 and ontology.term_id(int(a)) != PHENOTYPIC_ABNORMALITY
            ]
            excluded.append(ontology.term_id(int(chance.choice(above))))
        if chance.random() < 0.1:
            excluded.append(chance.choice(terms))
        variants = [("SCN1A", snv(1000))] if chance.random() < 0.1 else []
        cohort.append(
            patient_json(
                f"case-{number:03d}",
                observed,
                excluded=[t for t in excluded if t not in observed],
                genes=[chance.choice(GENES)],
                variants=variants,
                disorders=["MIM:607208"] if chance.random() < 0.1 else [],
                test=chance.random() < 0.1,
            )
        )
    return cohort


# Lin and Jiang-Conrath score many profiles from float32 term tables (hpo.similarity).
TOLERANCE = {Method.RESNIK: 1e-9, Method.SIMGIC: 1e-9, Method.LIN: 1e-6, Method.JIANG_CONRATH: 1e-6}


@pytest.mark.parametrize(
    "weights",
    [ScoringWeights(method=method, phenotype_model=BLEND) for method in Method]
    + [ScoringWeights()],
    ids=[f"blend-{method}" for method in Method] + [DEFAULT_MODEL],
)
async def test_rank_equals_a_naive_loop_over_every_stored_patient(
    node: MatchingNode,
    bundled_release: Release,
    annotated_terms: list[str],
    weights: ScoringWeights,
) -> None:
    chance = random.Random(7)
    query_json = patient_json(
        "query",
        chance.sample(annotated_terms, 8),
        excluded=[SEIZURE, AUTISTIC_BEHAVIOR],
        genes=["SCN1A"],
        variants=[("SCN1A", snv(1000))],
        disorders=["MIM:607208"],
    )
    await store_all(node, *random_cohort(bundled_release, annotated_terms, query_json, 200, 11))
    matcher = Matcher(Serving.of(bundled_release), node.store, weights)
    await matcher.load()
    query = node.query(query_json)

    records = [record async for record in node.store.iter_records()]
    expected = {
        record.key: naive_score(bundled_release, weights, query, record.patient)
        for record in records
        if not record.patient.test
    }
    ranked = matcher.rank(query, limit=len(records))

    assert {c.key for c in ranked} == {key for key, score in expected.items() if score > 0}
    for candidate in ranked:
        assert candidate.score == pytest.approx(
            expected[candidate.key], abs=TOLERANCE[weights.method]
        )
    best = sorted(expected.values(), reverse=True)[:10]
    top = matcher.rank(query, limit=10)
    assert [c.score for c in top] == pytest.approx(best, abs=TOLERANCE[weights.method])


async def test_random_cohort_exercises_every_part_of_the_score(
    node: MatchingNode, bundled_release: Release, annotated_terms: list[str]
) -> None:
    """The cohort of the brute-force test really holds contradictions and shared genotypes."""
    query_json = patient_json("query", annotated_terms[:8], excluded=[SEIZURE, AUTISTIC_BEHAVIOR])
    cohort = random_cohort(bundled_release, annotated_terms, query_json, 200, 11)
    await store_all(node, *cohort)
    query = node.query(query_json)
    counts = [
        contradictions(bundled_release, query, record.patient)
        async for record in node.store.iter_records()
    ]
    assert sum(count > 0 for count in counts) > 20
    assert sum(count > 1 for count in counts) > 5
    assert sum("variant" in str(p) for p in cohort) > 5
    assert sum("disorders" in p for p in cohort) > 5
    assert sum(p.get("test", False) for p in cohort) > 5


async def test_scores_lie_in_the_unit_interval_best_first_and_at_most_limit(
    node: MatchingNode, bundled_release: Release, annotated_terms: list[str]
) -> None:
    query_json = patient_json("query", annotated_terms[100:108], genes=["PTEN"])
    await store_all(node, *random_cohort(bundled_release, annotated_terms, query_json, 60, 3))
    for limit in (1, 7, 1000):
        results = await node.matcher.match(node.query(query_json), limit=limit)
        scores = [r.score for r in results]
        assert 0 < len(results) <= limit
        assert all(0 < s <= 1 for s in scores)
        assert scores == sorted(scores, reverse=True)


async def test_identical_patient_scores_one(node: MatchingNode) -> None:
    twin = patient_json("P1", [AUTISM, GAIT_ATAXIA], genes=["SCN1A"])
    await store_all(node, twin)
    [result] = await node.matcher.match(
        node.query(patient_json("Q", [AUTISM, GAIT_ATAXIA], genes=["SCN1A"])), limit=5
    )
    assert result.score == pytest.approx(1.0)


async def test_min_score_drops_weaker_candidates(node: MatchingNode) -> None:
    await store_all(
        node,
        patient_json("close", [AUTISM, GAIT_ATAXIA]),
        patient_json("far", [HEARING_LOSS]),
    )
    query = node.query(patient_json("Q", [AUTISM, GAIT_ATAXIA]))
    everyone = await node.matcher.match(query, limit=10)
    threshold = (everyone[0].score + everyone[1].score) / 2
    strong = await node.matcher.match(query, limit=10, min_score=threshold)
    assert [r.record.patient.id for r in everyone] == ["close", "far"]
    assert [r.record.patient.id for r in strong] == ["close"]


async def test_query_never_matches_the_record_it_was_taken_from(node: MatchingNode) -> None:
    await store_all(node, patient_json("P1", [AUTISM]), patient_json("P2", [AUTISM]))
    record = await node.store.get(OWNER, "P1")
    results = await node.matcher.match(record.patient, limit=10, exclude=record.key)
    assert [r.record.key for r in results] == [(OWNER, "P2")]


async def test_peer_echoing_our_patient_back_does_not_match_it(node: MatchingNode) -> None:
    await store_all(node, patient_json("P1", [AUTISM]), patient_json("P2", [AUTISM]))
    echo = node.query(patient_json("P1", [AUTISM], href=CONTACT_HREF))
    namesake = node.query(patient_json("P1", [AUTISM], href="mailto:someone.else@example.org"))
    assert {r.record.patient.id for r in await node.matcher.match(echo, limit=10)} == {"P2"}
    assert {r.record.patient.id for r in await node.matcher.match(namesake, limit=10)} == {
        "P1",
        "P2",
    }


async def test_test_query_sees_only_test_patients_and_real_query_only_real(
    node: MatchingNode,
) -> None:
    await store_all(
        node,
        patient_json("real", [AUTISM], genes=["SCN1A"]),
        patient_json("test", [AUTISM], genes=["SCN1A"], test=True),
    )
    real = node.query(patient_json("Q", [AUTISM], genes=["SCN1A"]))
    test = node.query(patient_json("Q", [AUTISM], genes=["SCN1A"], test=True))
    assert [r.record.patient.id for r in await node.matcher.match(real, limit=10)] == ["real"]
    assert [r.record.patient.id for r in await node.matcher.match(test, limit=10)] == ["test"]


@pytest.mark.parametrize("query_gene", ["SCN1A", "scn1a", "ENSG00000144285", "6323", "HGNC:10585"])
async def test_shared_gene_raises_score_whatever_its_namespace(
    node: MatchingNode, query_gene: str
) -> None:
    await store_all(
        node,
        patient_json("same-gene", [AUTISM], genes=["ENSG00000144285"]),
        patient_json("other-gene", [AUTISM], genes=["PTEN"]),
    )
    results = await node.matcher.match(
        node.query(patient_json("Q", [AUTISM], genes=[query_gene])), limit=10
    )
    scores = {r.record.patient.id: r for r in results}
    assert scores["same-gene"].score > scores["other-gene"].score
    assert scores["same-gene"].genotype_score == 1.0
    assert scores["other-gene"].genotype_score == 0.0


async def test_same_variant_scores_higher_than_same_gene_only(node: MatchingNode) -> None:
    await store_all(
        node,
        patient_json("same-variant", [AUTISM], variants=[("SCN1A", snv(1000))]),
        patient_json("same-gene", [AUTISM], variants=[("SCN1A", snv(2000))]),
        patient_json("gene-no-variant", [AUTISM], genes=["SCN1A"]),
    )
    query = node.query(patient_json("Q", [AUTISM], variants=[("SCN1A", snv(1000))]))
    results = await node.matcher.match(query, limit=10)
    assert [r.record.patient.id for r in results][0] == "same-variant"
    scores = {r.record.patient.id: r.score for r in results}
    assert scores["same-variant"] > scores["same-gene"] == scores["gene-no-variant"]


async def test_shared_disorder_raises_score(node: MatchingNode) -> None:
    await store_all(
        node,
        patient_json("same-disorder", [AUTISM], disorders=["MIM:607208"]),
        patient_json("other-disorder", [AUTISM], disorders=["MIM:300672"]),
    )
    query = node.query(patient_json("Q", [AUTISM], disorders=["MIM:607208"]))
    scores = {r.record.patient.id: r.score for r in await node.matcher.match(query, limit=10)}
    assert scores["same-disorder"] > scores["other-disorder"]


@pytest.mark.parametrize("observed", [SEIZURE, TONIC_CLONIC_SEIZURE])
async def test_candidate_observing_a_term_the_query_excludes_is_penalised(
    blend_node: MatchingNode, observed: str
) -> None:
    """The excluded term itself or any term below it contradicts the query."""
    await store_all(blend_node, patient_json("P1", [AUTISM, observed]))
    plain = blend_node.query(patient_json("Q", [AUTISM, GAIT_ATAXIA]))
    excluding = blend_node.query(patient_json("Q", [AUTISM, GAIT_ATAXIA], excluded=[SEIZURE]))
    [before] = await blend_node.matcher.match(plain, limit=1)
    [after] = await blend_node.matcher.match(excluding, limit=1)
    assert after.score == pytest.approx(before.score * ScoringWeights().exclusion_penalty)


async def test_candidate_excluding_an_ancestor_of_a_query_term_ranks_lower(
    blend_node: MatchingNode,
) -> None:
    await store_all(
        blend_node,
        patient_json("contradicts", [GAIT_ATAXIA, VSD], excluded=[AUTISTIC_BEHAVIOR]),
        patient_json("agrees", [GAIT_ATAXIA, VSD]),
    )
    results = await blend_node.matcher.match(
        blend_node.query(patient_json("Q", [AUTISM, VSD])), limit=10
    )
    assert [r.record.patient.id for r in results] == ["agrees", "contradicts"]
    assert results[1].score == pytest.approx(results[0].score * ScoringWeights().exclusion_penalty)


async def test_each_contradicted_query_term_counts_once(blend_node: MatchingNode) -> None:
    """Two excluded ancestors of one query term are one contradiction; one ancestor of two
    query terms is two."""
    await store_all(
        blend_node,
        patient_json("two-above-one", [VSD], excluded=[SEIZURE, "HP:0012638"]),
        patient_json("one-above-two", [VSD], excluded=[SEIZURE]),
        patient_json("plain", [VSD]),
    )
    one_term = blend_node.query(patient_json("Q", [TONIC_CLONIC_SEIZURE, VSD]))
    two_terms = blend_node.query(patient_json("Q", [TONIC_CLONIC_SEIZURE, MOTOR_SEIZURE, VSD]))
    penalty = ScoringWeights().exclusion_penalty

    def scores(results: list[Any]) -> dict[str, float]:
        return {r.record.patient.id: r.score for r in results}

    first = scores(await blend_node.matcher.match(one_term, limit=10))
    second = scores(await blend_node.matcher.match(two_terms, limit=10))
    assert first["two-above-one"] == pytest.approx(first["plain"] * penalty)
    assert second["one-above-two"] == pytest.approx(second["plain"] * penalty**2)


async def test_patient_without_phenotype_is_still_scored_on_its_gene(node: MatchingNode) -> None:
    await store_all(node, patient_json("genotype-only", genes=["KMT2D"]))
    query = node.query(patient_json("Q", [AUTISM], genes=["KMT2D"]))
    [result] = await node.matcher.match(query, limit=5)
    assert result.score == pytest.approx(0.5)
    assert result.phenotype_score == 0.0


async def test_save_and_delete_through_the_service_change_matches_at_once(
    node: MatchingNode,
) -> None:
    query = node.query(patient_json("Q", [AUTISM]))
    assert await node.matcher.match(query, limit=5) == []
    await node.patients.submit(OWNER, patient_json("P1", [AUTISM]))
    assert [r.record.patient.id for r in await node.matcher.match(query, limit=5)] == ["P1"]
    await node.patients.submit(OWNER, patient_json("P1", [HEARING_LOSS], test=True))
    assert await node.matcher.match(query, limit=5) == []
    await node.patients.submit(OWNER, patient_json("P1", [AUTISM]))
    await node.patients.delete(OWNER, "P1")
    assert await node.matcher.match(query, limit=5) == []


async def test_replaced_patient_is_scored_on_its_new_terms(node: MatchingNode) -> None:
    await node.patients.submit(OWNER, patient_json("P1", [HEARING_LOSS]))
    await node.patients.submit(OWNER, patient_json("P1", [AUTISM, GAIT_ATAXIA]))
    [result] = await node.matcher.match(
        node.query(patient_json("Q", [AUTISM, GAIT_ATAXIA])), limit=5
    )
    assert result.score == pytest.approx(1.0)
    assert result.record.version == 2


async def test_patient_deleted_after_scoring_is_left_out(node: MatchingNode) -> None:
    await store_all(node, patient_json("P1", [AUTISM]), patient_json("P2", [AUTISM]))
    await node.store.delete(OWNER, "P1")  # the index still holds it
    results = await node.matcher.match(node.query(patient_json("Q", [AUTISM])), limit=5)
    assert [r.record.patient.id for r in results] == ["P2"]


async def test_explanations_only_when_asked(node: MatchingNode) -> None:
    await store_all(node, patient_json("P1", [AUTISM], genes=["SCN1A"]))
    query = node.query(patient_json("Q", [AUTISM], genes=["SCN1A"]))
    [plain] = await node.matcher.match(query, limit=5)
    [explained] = await node.matcher.match(query, limit=5, with_explanations=True)
    assert plain.explanation is None
    assert explained.explanation is not None
    assert explained.explanation.shared_genes == ("SCN1A",)


async def test_a_small_partition_is_ranked_on_the_event_loop_a_large_one_in_a_worker(
    node: MatchingNode,
    bundled_release: Release,
    annotated_terms: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    query_json = patient_json("query", annotated_terms[:8], genes=["PTEN"])
    await store_all(node, *random_cohort(bundled_release, annotated_terms, query_json, 60, 5))
    query = node.query(query_json)
    threads = calling_threads(monkeypatch, Matcher, "_rank")

    on_the_loop = await node.matcher.match(query, limit=10)
    monkeypatch.setattr(matcher_module, "INLINE_RANK_PAIRS", 1)  # nothing is small now
    in_a_worker = await node.matcher.match(query, limit=10)

    assert threads[0] == threading.get_ident() != threads[1]
    assert [(r.record.key, r.score) for r in on_the_loop] == [
        (r.record.key, r.score) for r in in_a_worker
    ]


async def test_a_match_while_the_index_is_being_updated_waits_in_a_worker_not_on_the_loop(
    node: MatchingNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store_all(node, patient_json("P1", [AUTISM, GAIT_ATAXIA], genes=["SCN1A"]))
    threads = calling_threads(monkeypatch, Matcher, "_rank")
    query = node.query(patient_json("Q", [AUTISM]))

    results = await awaited_while_held(
        node.matcher.serving.state.lock, node.matcher.match(query, limit=5)
    )

    assert [r.record.patient.id for r in results] == ["P1"]
    assert threads and threads[0] != threading.get_ident()
