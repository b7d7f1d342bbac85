"""One-vs-many scoring equals a naive pairwise Python implementation, on the real ontology."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import pytest
from tiny_hpo import D, E, F, G, H

from hpo import Method, ProfileMatrix, Release, SimilarityEngine


class NaiveScorer:
    """Textbook definitions over Python sets: slow, obviously right, independent of hpo."""

    def __init__(self, release: Release) -> None:
        ontology = release.ontology
        self.ic = {t: release.information_content[i] for i, t in enumerate(ontology.ids)}
        self.ancestors = {t: set(ontology.ancestor_ids(t)) for t in ontology.ids}

    def term(self, a: str, b: str, method: Method) -> float:
        shared = self.ancestors[a] & self.ancestors[b]
        mica = max(self.ic[t] for t in shared)
        if method is Method.RESNIK:
            return mica
        if method is Method.LIN:
            total = self.ic[a] + self.ic[b]
            return 2 * mica / total if total > 0 else 0.0
        return 1 / (1 + self.ic[a] + self.ic[b] - 2 * mica)

    def profile(self, query: Sequence[str], profile: Sequence[str], method: Method) -> float:
        if not query or not profile:
            return 0.0
        if method is Method.SIMGIC:
            left = set().union(*(self.ancestors[t] for t in query))
            right = set().union(*(self.ancestors[t] for t in profile))
            union = sum(self.ic[t] for t in left | right)
            return sum(self.ic[t] for t in left & right) / union if union else 0.0
        forward = sum(max(self.term(q, p, method) for p in profile) for q in query) / len(query)
        backward = sum(max(self.term(p, q, method) for q in query) for p in profile) / len(profile)
        return (forward + backward) / 2

    def normalised_resnik(self, query: Sequence[str], profile: Sequence[str]) -> float:
        if not query or not profile:
            return 0.0
        bound = (
            sum(self.ic[t] for t in query) / len(query)
            + sum(self.ic[t] for t in profile) / len(profile)
        ) / 2
        raw = self.profile(query, profile, Method.RESNIK)
        return min(raw / bound, 1.0) if bound > 0 else 0.0


@pytest.fixture(scope="module")
def naive(bundled_release: Release) -> NaiveScorer:
    return NaiveScorer(bundled_release)


@pytest.fixture(scope="module")
def random_profiles(bundled_release: Release) -> dict[str, list[str]]:
    """Profiles of 0-12 terms, mostly annotated ones, some sharing a branch with the query."""
    rng = random.Random(2025)
    ontology = bundled_release.ontology
    annotated = [
        t for i, t in enumerate(ontology.ids) if bundled_release.information_content[i] < 9.0
    ]
    profiles = {f"p{n}": rng.sample(annotated, rng.randint(1, 12)) for n in range(120)}
    profiles["empty"] = []
    profiles["root"] = ["HP:0000001"]
    profiles["seizures"] = ["HP:0001250", "HP:0007359", "HP:0002069"]
    return profiles


QUERY = ["HP:0001250", "HP:0001263", "HP:0004322", "HP:0000252", "HP:0001629", "HP:0000486"]


@pytest.mark.parametrize("method", list(Method))
def test_one_vs_many_equals_naive_pairwise(
    bundled_release: Release,
    naive: NaiveScorer,
    random_profiles: dict[str, list[str]],
    method: Method,
) -> None:
    matrix = ProfileMatrix.build(bundled_release.ontology, random_profiles.items())
    scores = bundled_release.similarity.score_profiles(QUERY, matrix, method)
    for key, terms in random_profiles.items():
        expected = naive.profile(QUERY, terms, method)
        assert scores[matrix.row(key)] == pytest.approx(expected, rel=1e-5, abs=1e-6), key


def test_normalised_resnik_equals_naive(
    bundled_release: Release, naive: NaiveScorer, random_profiles: dict[str, list[str]]
) -> None:
    matrix = ProfileMatrix.build(bundled_release.ontology, random_profiles.items())
    scores = bundled_release.similarity.score_profiles(QUERY, matrix, "resnik", normalized=True)
    for key, terms in random_profiles.items():
        expected = naive.normalised_resnik(QUERY, terms)
        assert scores[matrix.row(key)] == pytest.approx(expected, rel=1e-5, abs=1e-6), key
    assert np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize("method", [Method.RESNIK, Method.LIN, Method.JIANG_CONRATH])
def test_one_vs_many_directions_equal_pairwise_directions(
    bundled_release: Release, random_profiles: dict[str, list[str]], method: Method
) -> None:
    matrix = ProfileMatrix.build(bundled_release.ontology, random_profiles.items())
    result = bundled_release.similarity.profile_scores(QUERY, matrix, method)
    for key in ["p1", "p2", "seizures"]:
        pairwise = bundled_release.similarity.profile_similarity(
            QUERY, random_profiles[key], method
        )
        row = matrix.row(key)
        assert result.forward[row] == pytest.approx(pairwise.forward, rel=1e-5)
        assert result.backward[row] == pytest.approx(pairwise.backward, rel=1e-5)


@pytest.mark.parametrize("method", list(Method))
def test_identical_profile_scores_one_when_normalised(
    bundled_release: Release, method: Method
) -> None:
    matrix = ProfileMatrix.build(bundled_release.ontology, [("same", QUERY), ("other", QUERY[:2])])
    scores = bundled_release.similarity.score_profiles(QUERY, matrix, method, normalized=True)
    assert scores[matrix.row("same")] == pytest.approx(1.0)
    assert scores[matrix.row("other")] <= scores[matrix.row("same")]


def test_tiny_one_vs_many_matches_hand_values(tiny_release: Release) -> None:
    matrix = ProfileMatrix.build(tiny_release.ontology, [("p", [D, F]), ("q", [G, H])])
    scores = tiny_release.similarity.profile_scores([E], matrix, "resnik")
    # Query {E} against {D, F}: forward E->P = 0.22314, backward P->E = 0.11157 (see
    # test_hpo_similarity); against {G, H}: E~G = IC(E) = 0.91629, E~H = 0.
    assert scores.forward[0] == pytest.approx(math.log(5 / 4))
    assert scores.backward[0] == pytest.approx(math.log(5 / 4) / 2)
    assert scores.score[1] == pytest.approx((math.log(5 / 2) + math.log(5 / 2) / 2) / 2)


@pytest.mark.parametrize("method", list(Method))
def test_empty_and_removed_profiles_score_zero(tiny_release: Release, method: Method) -> None:
    matrix = ProfileMatrix.build(tiny_release.ontology, [("empty", []), ("gone", [E]), ("p", [E])])
    matrix.remove("gone")
    scores = tiny_release.similarity.score_profiles([E], matrix, method)
    assert scores[0] == 0.0 and scores[1] == 0.0 and scores[2] > 0.0


def test_empty_query_scores_zero_everywhere(tiny_release: Release) -> None:
    matrix = ProfileMatrix.build(tiny_release.ontology, [("p", [D])])
    assert tiny_release.similarity.score_profiles([], matrix).tolist() == [0.0]


def test_matrix_of_another_release_is_refused(
    tiny_release: Release, bundled_release: Release
) -> None:
    matrix = ProfileMatrix.build(bundled_release.ontology, [("p", ["HP:0001250"])])
    with pytest.raises(ValueError, match="another ontology"):
        tiny_release.similarity.score_profiles([D], matrix)


@pytest.mark.parametrize("normalized", [False, True])
def test_several_methods_at_once_equal_each_alone(
    bundled_release: Release, random_profiles: dict[str, list[str]], normalized: bool
) -> None:
    matrix = ProfileMatrix.build(bundled_release.ontology, random_profiles.items())
    matrix.remove("p3")
    similarity = bundled_release.similarity
    together = similarity.score_profiles_by(QUERY, matrix, list(Method), normalized)
    assert set(together) == set(Method)
    for method in Method:
        alone = similarity.score_profiles(QUERY, matrix, method, normalized)
        np.testing.assert_allclose(together[method], alone, rtol=1e-12, atol=1e-12)
    assert together[Method.RESNIK][matrix.rows - 1] > 0
    assert together[Method.SIMGIC][int(np.flatnonzero(~matrix.live)[0])] == 0.0


def test_several_methods_of_an_empty_query_score_zero(tiny_release: Release) -> None:
    matrix = ProfileMatrix.build(tiny_release.ontology, [("p", [D])])
    scores = tiny_release.similarity.score_profiles_by([], matrix, ["resnik", "simgic"], True)
    assert scores[Method.RESNIK].tolist() == [0.0] and scores[Method.SIMGIC].tolist() == [0.0]


def test_warm_fills_the_per_profile_caches_scoring_reads(
    bundled_release: Release, random_profiles: dict[str, list[str]]
) -> None:
    engine = SimilarityEngine(bundled_release.ontology, bundled_release.information_content)
    matrix = ProfileMatrix.build(bundled_release.ontology, random_profiles.items())
    engine.warm(matrix, ["resnik", "simgic"])
    # White-box: the caches hold a value per row before any query was scored.
    assert len(engine._mean_ic_cache[matrix][1]) == matrix.rows
    assert len(engine._closure_cache[matrix][1]) == matrix.rows
    cold = bundled_release.similarity.score_profiles_by(QUERY, matrix, ["resnik", "simgic"], True)
    warm = engine.score_profiles_by(QUERY, matrix, ["resnik", "simgic"], True)
    for method in (Method.RESNIK, Method.SIMGIC):
        np.testing.assert_array_equal(warm[method], cold[method])


@pytest.mark.parametrize("normalized", [False, True])
def test_scoring_some_rows_gives_those_rows_the_scores_of_the_whole_matrix(
    bundled_release: Release, random_profiles: dict[str, list[str]], normalized: bool
) -> None:
    matrix = ProfileMatrix.build(bundled_release.ontology, random_profiles.items())
    matrix.remove("p3")
    dead = int(np.flatnonzero(~matrix.live)[0])
    rows = np.array([matrix.rows - 1, dead, 0, 5, 5, 2], dtype=np.int64)  # any order, repeats
    similarity = bundled_release.similarity
    whole = similarity.score_profiles_by(QUERY, matrix, list(Method), normalized)
    some = similarity.score_profiles_by(QUERY, matrix, list(Method), normalized, rows=rows)
    for method in Method:
        np.testing.assert_array_equal(some[method], whole[method][rows])
        alone = similarity.score_profiles(QUERY, matrix, method, normalized, rows)
        np.testing.assert_array_equal(alone, whole[method][rows])
    overlap = similarity.term_overlap(QUERY, matrix, rows)
    np.testing.assert_array_equal(overlap, similarity.term_overlap(QUERY, matrix)[rows])
    assert some[Method.RESNIK][0] > 0 and some[Method.RESNIK][1] == 0.0  # live, dead
    nothing = similarity.score_profiles_by(QUERY, matrix, ["resnik", "simgic"], True, rows[:0])
    assert [len(v) for v in nothing.values()] == [0, 0]
