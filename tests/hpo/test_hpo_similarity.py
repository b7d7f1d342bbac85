"""Pairwise similarity: hand-computed values on the miniature release, properties on the real one.

ICs of the miniature release (see tiny_hpo): IC(B) = ln(5/4) = 0.22314,
IC(D) = ln(5/3) = 0.51083, IC(E) = IC(F) = IC(C) = ln(5/2) = 0.91629, IC(A) = IC(R) = 0.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
from tiny_hpo import IC, A, B, C, D, E, F, G, R

from hpo import Method, Release

LN54, LN53, LN52 = math.log(5 / 4), math.log(5 / 3), math.log(5 / 2)


def test_mica_is_the_common_ancestor_of_highest_ic(tiny_release: Release) -> None:
    engine = tiny_release.similarity
    # Common ancestors of D and E: B, A, R; B has the highest IC.
    assert engine.most_informative_common_ancestor(D, E) == (B, pytest.approx(LN54))
    # G descends from D: D itself is the MICA.
    assert engine.mica(G, D) == (D, pytest.approx(LN53))
    # D and F only share A and R (IC 0); the tie goes to the lowest id, R.
    assert engine.mica(D, F) == (R, 0.0)


def test_resnik_is_the_ic_of_the_mica(tiny_release: Release) -> None:
    engine = tiny_release.similarity
    assert engine.term_similarity(D, E, "resnik") == pytest.approx(0.22314, abs=1e-5)
    assert engine.term_similarity(G, E, "resnik") == pytest.approx(IC[E])
    assert engine.term_similarity(D, F, "resnik") == 0.0


def test_lin_divides_twice_the_mica_ic_by_both_ics(tiny_release: Release) -> None:
    # 2 * 0.22314 / (0.51083 + 0.91629) = 0.44629 / 1.42712 = 0.31272
    value = tiny_release.similarity.term_similarity(D, E, Method.LIN)
    assert value == pytest.approx(2 * LN54 / (LN53 + LN52))
    assert value == pytest.approx(0.31272, abs=1e-5)


def test_jiang_conrath_turns_the_distance_into_a_similarity(tiny_release: Release) -> None:
    # d = 0.51083 + 0.91629 - 2 * 0.22314 = 0.98083; 1 / (1 + d) = 0.50484
    value = tiny_release.similarity.term_similarity(D, E, "jc")
    assert value == pytest.approx(1 / (1 + LN53 + LN52 - 2 * LN54))
    assert value == pytest.approx(0.50484, abs=1e-5)


def test_simgic_weighs_shared_ancestors_against_all_ancestors(tiny_release: Release) -> None:
    # anc(D) & anc(E) = {B, A, R}: 0.22314; anc(D) | anc(E) = {D, E, B, A, R}: 1.65026
    value = tiny_release.similarity.term_similarity(D, E, "simgic")
    assert value == pytest.approx(LN54 / (LN53 + LN52 + LN54))
    assert value == pytest.approx(0.13522, abs=1e-5)


def test_uninformative_terms_score_zero_with_lin_and_one_with_jc(tiny_release: Release) -> None:
    engine = tiny_release.similarity
    assert engine.term_similarity(R, A, "lin") == 0.0
    assert engine.term_similarity(R, R, "jc") == 1.0


def test_profile_resnik_bma_averages_both_directions(tiny_release: Release) -> None:
    # P = {D, F}, Q = {E}. Resnik: D~E = 0.22314, F~E = 0.
    # forward P->Q = (0.22314 + 0) / 2 = 0.11157; backward Q->P = 0.22314;
    # BMA = (0.11157 + 0.22314) / 2 = 0.16736.
    result = tiny_release.similarity.profile_similarity([D, F], [E], "resnik")
    assert result.forward == pytest.approx(LN54 / 2)
    assert result.backward == pytest.approx(LN54)
    assert result.score == pytest.approx(0.75 * LN54)
    assert result.score == pytest.approx(0.16736, abs=1e-5)


def test_normalised_resnik_divides_by_the_mean_self_similarity(tiny_release: Release) -> None:
    # self(P) = mean IC(D, F) = 0.71356; self(Q) = IC(E) = 0.91629; mean = 0.81492;
    # 0.16736 / 0.81492 = 0.20536.
    result = tiny_release.similarity.profile_similarity([D, F], [E], "resnik", normalized=True)
    assert result.score == pytest.approx(0.75 * LN54 / (((LN53 + LN52) / 2 + LN52) / 2))
    assert result.score == pytest.approx(0.20536, abs=1e-5)


def test_profile_lin_bma(tiny_release: Release) -> None:
    # Lin: D~E = 0.31272, F~E = 0; forward 0.15636, backward 0.31272; BMA 0.23454.
    result = tiny_release.similarity.profile_similarity([D, F], [E], "lin")
    lin_de = 2 * LN54 / (LN53 + LN52)
    assert (result.forward, result.backward) == (pytest.approx(lin_de / 2), pytest.approx(lin_de))
    assert result.score == pytest.approx(0.23454, abs=1e-5)


def test_profile_jiang_conrath_bma(tiny_release: Release) -> None:
    # JC: D~E = 0.50484; F~E: d = 0.91629 + 0.91629 = 1.83258, 1 / 2.83258 = 0.35304.
    # forward (0.50484 + 0.35304) / 2 = 0.42894; backward 0.50484; BMA 0.46689.
    result = tiny_release.similarity.profile_similarity([D, F], [E], "jc")
    assert result.forward == pytest.approx(0.42894, abs=1e-5)
    assert result.backward == pytest.approx(0.50484, abs=1e-5)
    assert result.score == pytest.approx(0.46689, abs=1e-5)


def test_profile_simgic_is_group_wise(tiny_release: Release) -> None:
    # closure(P) = {D, F, B, C, A, R}, closure(Q) = {E, B, A, R};
    # shared {B, A, R} = 0.22314; union {D, E, F, B, C, A, R} = 3.48284; 0.06407.
    result = tiny_release.similarity.profile_similarity([D, F], [E], "simgic")
    assert result.score == pytest.approx(LN54 / (LN53 + 3 * LN52 + LN54))
    assert result.score == pytest.approx(0.06407, abs=1e-5)
    assert result.forward == result.backward == result.score


def test_empty_profile_scores_zero(tiny_release: Release) -> None:
    assert tiny_release.similarity.profile_similarity([], [D], "resnik").score == 0.0


def test_duplicate_terms_in_a_profile_count_once(tiny_release: Release) -> None:
    engine = tiny_release.similarity
    assert engine.profile_similarity([D, D, F], [E]) == engine.profile_similarity([D, F], [E])


def test_unknown_method_is_refused(tiny_release: Release) -> None:
    with pytest.raises(ValueError):
        tiny_release.similarity.term_similarity(D, E, "cosine")


@pytest.fixture(scope="module")
def real_pairs(bundled_release: Release) -> list[tuple[str, str]]:
    rng = random.Random(7)
    ids = bundled_release.ontology.ids
    return [(rng.choice(ids), rng.choice(ids)) for _ in range(60)]


@pytest.mark.parametrize("method", list(Method))
def test_term_similarity_is_symmetric(
    bundled_release: Release, real_pairs: list[tuple[str, str]], method: Method
) -> None:
    engine = bundled_release.similarity
    for a, b in real_pairs:
        assert engine.term_similarity(a, b, method) == pytest.approx(
            engine.term_similarity(b, a, method)
        )


@pytest.mark.parametrize("method", list(Method))
def test_self_similarity_is_maximal(
    bundled_release: Release, real_pairs: list[tuple[str, str]], method: Method
) -> None:
    engine = bundled_release.similarity
    for a, b in real_pairs:
        assert engine.term_similarity(a, a, method) >= engine.term_similarity(a, b, method) - 1e-12


@pytest.mark.parametrize("method", [Method.LIN, Method.JIANG_CONRATH, Method.SIMGIC])
def test_bounded_measures_stay_in_the_unit_interval(
    bundled_release: Release, real_pairs: list[tuple[str, str]], method: Method
) -> None:
    engine = bundled_release.similarity
    for a, b in real_pairs:
        assert 0.0 <= engine.term_similarity(a, b, method) <= 1.0


def test_resnik_never_exceeds_either_terms_ic(
    bundled_release: Release, real_pairs: list[tuple[str, str]]
) -> None:
    engine, ontology = bundled_release.similarity, bundled_release.ontology
    ic = bundled_release.information_content
    for a, b in real_pairs:
        bound = min(ic[ontology.index_of(a)], ic[ontology.index_of(b)])
        assert 0.0 <= engine.term_similarity(a, b, "resnik") <= bound + 1e-12


@pytest.mark.parametrize("method", list(Method))
def test_profile_similarity_is_symmetric_and_directions_swap(
    bundled_release: Release, real_pairs: list[tuple[str, str]], method: Method
) -> None:
    engine = bundled_release.similarity
    terms = [t for pair in real_pairs for t in pair]
    for first, second in itertools.pairwise(range(0, 40, 5)):
        p, q = terms[first:second], terms[second : second + 3]
        pq, qp = engine.profile_similarity(p, q, method), engine.profile_similarity(q, p, method)
        assert pq.score == pytest.approx(qp.score)
        assert pq.forward == pytest.approx(qp.backward)


def test_best_matches_ties_go_to_the_earlier_candidate_and_the_lowest_id_mica(
    tiny_release: Release,
) -> None:
    # D shares only R and A (IC 0) with F but B with E; F with itself shares F and C,
    # both of IC ln(5/2): the MICA is C, the lower id. The repeated D is answered once.
    matches = tiny_release.similarity.best_matches([D, D, F], [F, E])
    assert [(m.query_term, m.candidate_term, m.ancestor) for m in matches] == [
        (D, E, B),
        (F, F, C),
    ]
    # R with anything: every candidate ties at IC 0, so the earlier one wins.
    assert [m.candidate_term for m in tiny_release.similarity.best_matches([R], [F, E])] == [F]
    assert tiny_release.similarity.best_matches([D], []) == []


def test_best_matches_equal_the_pairwise_micas_on_the_real_release(
    bundled_release: Release,
) -> None:
    engine = bundled_release.similarity
    terms = list(bundled_release.ontology)
    rng = random.Random(7)
    for _ in range(5):
        query, candidate = rng.sample(terms, 12), rng.sample(terms, 9)
        for match in engine.best_matches(query, candidate):
            pairs = [(c, *engine.mica(match.query_term, c)) for c in candidate]
            best_term, ancestor, ic = max(pairs, key=lambda pair: pair[2])
            assert (match.candidate_term, match.ancestor) == (best_term, ancestor)
            assert match.information_content == ic
