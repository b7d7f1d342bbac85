"""The profile matrix: keyed rows, cheap appends and removals, compaction, ranking."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_hpo import B, D, E, F, G, H

from hpo import ProfileMatrix, Release, UnknownTermError


def test_add_stores_sorted_distinct_terms(tiny_release: Release) -> None:
    matrix = ProfileMatrix(tiny_release.ontology)
    matrix.add("p1", [G, D, D])
    assert matrix.terms("p1") == (D, G)
    assert len(matrix) == 1 and "p1" in matrix


def test_adding_an_existing_key_replaces_its_profile(tiny_release: Release) -> None:
    matrix = ProfileMatrix(tiny_release.ontology)
    matrix.add("p1", [D])
    matrix.add("p1", [E])
    assert matrix.terms("p1") == (E,)
    assert len(matrix) == 1
    assert matrix.key(0) is None and matrix.key(matrix.row("p1")) == "p1"


def test_remove_forgets_the_profile(tiny_release: Release) -> None:
    matrix = ProfileMatrix.build(tiny_release.ontology, [("p1", [D]), ("p2", [E])])
    assert matrix.remove("p1")
    assert not matrix.remove("p1")
    assert "p1" not in matrix and len(matrix) == 1
    assert matrix.live.tolist() == [False, True]


def test_unknown_term_is_refused(tiny_release: Release) -> None:
    matrix = ProfileMatrix(tiny_release.ontology)
    with pytest.raises(UnknownTermError):
        matrix.add("p1", ["HP:0099999"])
    assert len(matrix) == 0


def test_matrix_grows_past_its_initial_capacity(tiny_release: Release) -> None:
    matrix = ProfileMatrix(tiny_release.ontology)
    for n in range(3000):
        matrix.add(f"p{n}", [D, E, F, G][: 1 + n % 4])
    assert matrix.rows == 3000
    assert matrix.terms("p2999") == (D, E, F, G)
    assert matrix.csr.indptr[-1] == sum(1 + n % 4 for n in range(3000))


def test_compaction_keeps_keys_and_their_profiles(tiny_release: Release) -> None:
    matrix = ProfileMatrix(tiny_release.ontology)
    for n in range(3000):
        matrix.add(f"p{n}", [D] if n % 2 else [E, F])
    for n in range(0, 2400):
        matrix.remove(f"p{n}")
    assert matrix.rows < 2400  # compacted on the way
    assert len(matrix) == 600
    assert matrix.terms("p2401") == (D,) and matrix.terms("p2400") == (E, F)
    scores = tiny_release.similarity.score_profiles([D], matrix, "simgic")
    assert scores[matrix.row("p2401")] == pytest.approx(1.0)


def test_simgic_after_compaction_matches_a_fresh_matrix(tiny_release: Release) -> None:
    engine = tiny_release.similarity
    matrix = ProfileMatrix.build(
        tiny_release.ontology, [(f"p{n}", [[D], [E, F], [G], [B]][n % 4]) for n in range(2100)]
    )
    engine.score_profiles([E], matrix, "simgic")  # fills the closure-weight cache
    for n in range(1500):
        matrix.remove(f"p{n}")
    matrix.add("late", [G, F])
    fresh = ProfileMatrix.build(
        tiny_release.ontology,
        [(k, matrix.terms(k)) for k in map(matrix.key, range(matrix.rows)) if k],
    )
    got = engine.score_profiles([E], matrix, "simgic")
    want = engine.score_profiles([E], fresh, "simgic")
    for key in ["p1500", "p2099", "late"]:
        assert got[matrix.row(key)] == pytest.approx(want[fresh.row(key)])


def test_from_csr_sorts_and_deduplicates_rows(tiny_release: Release) -> None:
    ontology = tiny_release.ontology
    d, e = ontology.index_of(D), ontology.index_of(E)
    matrix = ProfileMatrix.from_csr(
        ontology, ["a", "b", "c"], np.array([0, 3, 3, 4]), np.array([e, d, e, d])
    )
    assert matrix.terms("a") == (D, E) and matrix.terms("b") == () and matrix.terms("c") == (D,)


def test_top_ranks_live_rows_by_score_then_row(tiny_release: Release) -> None:
    matrix = ProfileMatrix.build(tiny_release.ontology, [(k, [D]) for k in "abcde"])
    matrix.remove("b")
    scores = np.array([0.5, 0.9, 0.7, 0.7, 0.1])
    assert matrix.top(scores, 3) == [("c", 0.7), ("d", 0.7), ("a", 0.5)]
    assert matrix.top(scores, 10, min_score=0.6) == [("c", 0.7), ("d", 0.7)]


def test_count_in_rows_counts_marked_terms_and_ignores_dead_rows(tiny_release: Release) -> None:
    ontology = tiny_release.ontology
    matrix = ProfileMatrix.build(ontology, [("p", [D, E, F]), ("q", [F]), ("gone", [D])])
    matrix.remove("gone")
    mask = np.zeros(len(ontology), dtype=bool)
    mask[[ontology.index_of(D), ontology.index_of(F)]] = True
    counts = matrix.count_in_rows(mask)
    assert counts[matrix.row("p")] == 2
    assert counts[matrix.row("q")] == 1
    assert counts.sum() == 3  # the removed profile's D is not counted
    some = np.array([matrix.row("q"), 2, matrix.row("p")], dtype=np.int64)  # row 2: "gone"
    assert matrix.count_in_rows(mask, some).tolist() == [1, 0, 2]


def test_term_overlap_is_the_jaccard_index_of_exact_terms(tiny_release: Release) -> None:
    matrix = ProfileMatrix.build(
        tiny_release.ontology, [("p", [D, E, F]), ("q", [G]), ("empty", [])]
    )
    scores = tiny_release.similarity.term_overlap([D, F, H], matrix)
    # p: shared {D, F}, union {D, E, F, H} -> 2/4; q: nothing shared (G is below D,
    # but the overlap ignores the hierarchy); an empty profile scores 0.
    assert scores[matrix.row("p")] == 0.5
    assert scores[matrix.row("q")] == 0.0
    assert scores[matrix.row("empty")] == 0.0
