"""Semantic similarity between terms and between profiles, pairwise and one-vs-many.

Term measures, with ``MICA(a, b)`` the common ancestor of highest IC:

* ``resnik``: ``IC(MICA(a, b))``, in ``[0, max IC]``.
* ``lin``: ``2 IC(MICA) / (IC(a) + IC(b))``, in ``[0, 1]``; 0 when both ICs
  are 0 (two uninformative terms are no evidence of likeness).
* ``jc`` (Jiang-Conrath): the distance ``d = IC(a) + IC(b) - 2 IC(MICA)``
  turned into a similarity ``1 / (1 + d)``, in ``(0, 1]``, 1 for identical
  terms.
* ``simgic``: ``sum IC(anc(a) & anc(b)) / sum IC(anc(a) | anc(b))`` over the
  ancestor closures (terms included), in ``[0, 1]``.

Profile measures: for ``resnik``, ``lin`` and ``jc``, the best-match average
(BMA): ``forward`` is the mean over the first profile's terms of their best
match in the second, ``backward`` the converse, and the score is the mean
of both directions (symmetric). For ``simgic`` the score is the group-wise
simGIC of the two profiles' ancestor closures (symmetric; both directions
equal the score). An empty profile scores 0.

Normalised scores lie in ``[0, 1]``: Resnik BMA is divided by the mean of
the two profiles' self-similarities, ``(mean IC(Q) + mean IC(P)) / 2``
(the BMA of a profile with itself is the mean IC of its terms), which is
an upper bound of the BMA, so identical profiles score 1. The other
measures already lie in ``[0, 1]`` and are returned unchanged.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from hpo import _one_vs_many
from hpo._csr import Csr, Indices, expand
from hpo.information import InformationContent
from hpo.ontology import Ontology
from hpo.profiles import ProfileMatrix, Rows, profile_indices

Scores = npt.NDArray[np.float64]


class Method(StrEnum):
    """The similarity measures (see the module docstring)."""

    RESNIK = "resnik"
    LIN = "lin"
    JIANG_CONRATH = "jc"
    SIMGIC = "simgic"


@dataclass(frozen=True)
class ProfileSimilarity:
    """Similarity of two profiles: the symmetric ``score`` and both directions."""

    score: float
    forward: float
    backward: float


@dataclass(frozen=True)
class ProfileScores:
    """One-vs-many similarities, one entry per matrix row (dead rows score 0).

    ``forward`` is query-to-profile (mean over query terms of the best match
    in the profile), ``backward`` profile-to-query.
    """

    score: Scores
    forward: Scores
    backward: Scores


@dataclass(frozen=True)
class BestMatch:
    """One query term's best match in another profile, with their MICA and its IC."""

    query_term: str
    candidate_term: str
    ancestor: str
    information_content: float


class SimilarityEngine:
    """Similarity measures of one ontology with one information content."""

    def __init__(self, ontology: Ontology, information_content: InformationContent) -> None:
        if len(information_content) != len(ontology):
            raise ValueError("information content and ontology have different term counts")
        self.ontology = ontology
        self.ic = information_content.values
        self._closure_cache: _RowCache = weakref.WeakKeyDictionary()
        self._mean_ic_cache: _RowCache = weakref.WeakKeyDictionary()

    def most_informative_common_ancestor(self, a: str, b: str) -> tuple[str, float]:
        """The common ancestor of highest IC and that IC (ties: lowest term id)."""
        common = np.intersect1d(self.ontology.ancestors(a), self.ontology.ancestors(b))
        best = int(common[np.argmax(self.ic[common])])
        return self.ontology.term_id(best), float(self.ic[best])

    mica = most_informative_common_ancestor

    def best_matches(self, query: Iterable[str], candidate: Iterable[str]) -> list[BestMatch]:
        """Each distinct query term's best candidate term by Resnik similarity, in query order.

        Equal to calling :meth:`most_informative_common_ancestor` on every pair
        and keeping, per query term, the candidate term of highest IC(MICA)
        (ties: the candidate's earlier term; the MICA's own ties: lowest term
        id), but vectorised: one pass over the candidate's (term, ancestor)
        pairs per query term, so 500 x 500 terms take milliseconds instead of
        250,000 set intersections. Empty when either side is empty.
        """
        ontology = self.ontology
        query_terms = [ontology.index_of(t) for t in dict.fromkeys(query)]
        candidate_terms = np.fromiter(
            (ontology.index_of(t) for t in dict.fromkeys(candidate)), dtype=np.int64
        )
        if not query_terms or len(candidate_terms) == 0:
            return []
        # Pairs grouped by candidate term in order, ancestors ascending within each:
        # the first maximum is the earliest candidate term and its lowest-id MICA.
        owner, ancestors = expand(ontology.ancestor_closure, candidate_terms)
        ancestor_ic = self.ic[ancestors]
        shared = np.zeros(len(ontology), dtype=bool)
        found = []
        for term in query_terms:
            above = ontology.ancestors(term)
            shared[above] = True
            best = int(np.argmax(np.where(shared[ancestors], ancestor_ic, -1.0)))
            shared[above] = False
            found.append(
                BestMatch(
                    query_term=ontology.term_id(term),
                    candidate_term=ontology.term_id(int(candidate_terms[owner[best]])),
                    ancestor=ontology.term_id(int(ancestors[best])),
                    information_content=float(ancestor_ic[best]),
                )
            )
        return found

    def term_similarity(self, a: str, b: str, method: Method | str = Method.RESNIK) -> float:
        """Similarity of two current terms by ``method``."""
        method = Method(method)
        left = np.array([self.ontology.index_of(a)], dtype=np.int32)
        right = np.array([self.ontology.index_of(b)], dtype=np.int32)
        if method is Method.SIMGIC:
            return self._group_simgic(left, right)
        return float(self._pair_table(left, right, method)[0, 0])

    def profile_similarity(
        self,
        first: Iterable[str],
        second: Iterable[str],
        method: Method | str = Method.RESNIK,
        normalized: bool = False,
    ) -> ProfileSimilarity:
        """Similarity of two profiles of current term ids (see the module docstring)."""
        method = Method(method)
        left = profile_indices(self.ontology, first)
        right = profile_indices(self.ontology, second)
        if len(left) == 0 or len(right) == 0:
            return ProfileSimilarity(0.0, 0.0, 0.0)
        if method is Method.SIMGIC:
            score = self._group_simgic(left, right)
            return ProfileSimilarity(score, score, score)
        table = self._pair_table(left, right, method)
        forward = float(table.max(axis=1).mean())
        backward = float(table.max(axis=0).mean())
        score = (forward + backward) / 2
        if normalized and method is Method.RESNIK:
            bound = (float(self.ic[left].mean()) + float(self.ic[right].mean())) / 2
            score = min(score / bound, 1.0) if bound > 0 else 0.0
        return ProfileSimilarity(score, forward, backward)

    def score_profiles(
        self,
        query: Iterable[str],
        matrix: ProfileMatrix,
        method: Method | str = Method.RESNIK,
        normalized: bool = False,
        rows: Rows | None = None,
    ) -> Scores:
        """One symmetric score per row of ``matrix`` (per row of ``rows`` if given).

        With ``normalized`` the scores lie in ``[0, 1]`` (see the module
        docstring). Removed and empty profiles score 0. Vectorised over
        profiles (no Python loop per profile); see docs/hpo.md for timings.
        A row's score does not depend on which other rows are scored.
        """
        method = Method(method)
        wanted = profile_indices(self.ontology, query)
        scores = self._scores(wanted, matrix, method, rows).score
        if normalized and method is Method.RESNIK:
            self._normalise_resnik(scores, wanted, matrix, rows)
        return scores

    def score_profiles_by(
        self,
        query: Iterable[str],
        matrix: ProfileMatrix,
        methods: Iterable[Method | str],
        normalized: bool = False,
        rows: Rows | None = None,
    ) -> dict[Method, Scores]:
        """:meth:`score_profiles` by several ``methods`` at once, one array per method.

        Resnik and simGIC read the same bitsets of the query's closure, so
        asked together they come from one pass over the matrix: simGIC then
        costs a weighted popcount per row instead of a pass of its own.
        """
        wanted = profile_indices(self.ontology, query)
        remaining = {Method(m) for m in methods}
        scores: dict[Method, Scores] = {}
        if {Method.RESNIK, Method.SIMGIC} <= remaining and len(wanted) and matrix.rows:
            scores[Method.RESNIK], scores[Method.SIMGIC] = self._resnik_and_simgic(
                wanted, matrix, rows
            )
            remaining -= {Method.RESNIK, Method.SIMGIC}
        for method in remaining:
            scores[method] = self._scores(wanted, matrix, method, rows).score
        if normalized and Method.RESNIK in scores:
            self._normalise_resnik(scores[Method.RESNIK], wanted, matrix, rows)
        return scores

    def warm(self, matrix: ProfileMatrix, methods: Iterable[Method | str]) -> None:
        """Compute now the per-profile values that scoring ``matrix`` by ``methods`` caches.

        Normalised Resnik reads each profile's mean IC and simGIC its closure
        weight (seconds per million profiles); both are cached per matrix and
        extended on appends. Warming after building a matrix spares the first
        query that wait.
        """
        wanted = {Method(m) for m in methods}
        if Method.RESNIK in wanted:
            self._mean_ic(matrix)
        if Method.SIMGIC in wanted:
            self._closure_weights(matrix)

    def row_values(self, matrix: ProfileMatrix) -> dict[str, Scores]:
        """The per-profile values warmed for ``matrix`` (see :meth:`warm`), one per row, by name.

        For saving beside the matrix, so that a process loading it later can
        :meth:`adopt` them instead of computing them again. Rows appended
        since the values were warmed are computed now; values never warmed
        for this matrix are left out.
        """
        return {
            name: _per_row(cache, compute, matrix)
            for name, (cache, compute) in self._row_caches().items()
            if matrix in cache
        }

    def adopt(self, matrix: ProfileMatrix, saved: dict[str, Scores]) -> None:
        """Use per-profile values that :meth:`row_values` gave for a matrix of the same rows.

        They are checked, not trusted: each must be one finite number per row
        of ``matrix``, and a sample of rows (up to 64, spread over the matrix)
        is computed afresh and must agree. ``ValueError`` otherwise (values of
        another release or of other rows, a damaged file).
        """
        caches = self._row_caches()
        sample = np.unique(np.linspace(0, matrix.rows - 1, num=min(matrix.rows, 64)).astype(int))
        for name, values in saved.items():
            if name not in caches:
                raise ValueError(f"{name}: not a per-profile value")
            if values.shape != (matrix.rows,) or not np.isfinite(values).all():
                raise ValueError(f"{name}: not one finite value per row of the matrix")
            cache, compute = caches[name]
            if len(sample) and not np.allclose(
                values[sample], compute(_rows_of(matrix.csr, sample)), rtol=1e-12, atol=0.0
            ):
                raise ValueError(f"{name}: the saved values differ from the profiles'")
            cache[matrix] = (matrix.generation, values)

    def _row_caches(self) -> dict[str, tuple[_RowCache, Callable[[Csr], Scores]]]:
        """The per-profile values cached per matrix, by name, and how each row's is computed."""
        return {
            "mean_ic": (self._mean_ic_cache, lambda rows: _one_vs_many.row_means(self.ic, rows)),
            "closure_weight": (
                self._closure_cache,
                lambda rows: _one_vs_many.closure_weights(self.ontology, self.ic, rows),
            ),
        }

    def _normalise_resnik(
        self, scores: Scores, query: Indices, matrix: ProfileMatrix, rows: Rows | None
    ) -> None:
        """Divide Resnik BMA scores, in place, by the mean self-similarity (module docstring)."""
        if len(query) == 0:
            return
        bound = (float(self.ic[query].mean()) + _pick(self._mean_ic(matrix), rows)) / 2
        np.divide(scores, bound, out=scores, where=bound > 0)
        scores[bound <= 0] = 0.0
        np.minimum(scores, 1.0, out=scores)

    def term_overlap(
        self, query: Iterable[str], matrix: ProfileMatrix, rows: Rows | None = None
    ) -> Scores:
        """Jaccard index of the exact term sets, ``|Q & P| / |Q | P|``, per row of ``matrix``.

        (Per row of ``rows`` if given.) It ignores the hierarchy on purpose:
        blended with a semantic measure it rewards profiles that use the very
        terms of the query (see ``docs/matching.md`` for the measured gain).
        Empty and dead rows score 0.
        """
        wanted = profile_indices(self.ontology, query)
        csr, live = matrix.select(rows)
        if len(wanted) == 0 or csr.rows == 0:
            return np.zeros(csr.rows)
        mask = np.zeros(len(self.ontology), dtype=bool)
        mask[wanted] = True
        shared = matrix.count_in_rows(mask, rows)
        union = len(wanted) + csr.lengths() - shared
        scores = np.zeros(csr.rows)
        np.divide(shared, union, out=scores, where=(union > 0) & live)
        return scores

    def profile_scores(
        self, query: Iterable[str], matrix: ProfileMatrix, method: Method | str = Method.RESNIK
    ) -> ProfileScores:
        """Raw scores of every row of ``matrix`` against ``query``, with both directions."""
        return self._scores(profile_indices(self.ontology, query), matrix, Method(method))

    def _scores(
        self, query: Indices, matrix: ProfileMatrix, method: Method, rows: Rows | None = None
    ) -> ProfileScores:
        if matrix.ontology is not self.ontology:
            raise ValueError("the profile matrix belongs to another ontology release")
        profiles, live = matrix.select(rows)
        if len(query) == 0 or profiles.rows == 0:
            empty = profiles.rows
            return ProfileScores(np.zeros(empty), np.zeros(empty), np.zeros(empty))
        if method is Method.SIMGIC:
            tracked = self._informative_closure(query)
            shared = _one_vs_many.shared_closure_weights(self.ontology, self.ic, tracked, profiles)
            score = self._simgic(tracked, shared, _pick(self._closure_weights(matrix), rows))
            forward, backward = score, score.copy()
        elif method is Method.RESNIK:
            tracked = self._informative_closure(query)
            forward, backward = _one_vs_many.resnik_bma(
                self.ontology, self.ic, query, tracked, profiles
            )
        else:
            forward, backward = _one_vs_many.table_bma(self._query_table(query, method), profiles)
        dead = ~live
        forward[dead] = 0.0
        backward[dead] = 0.0
        return ProfileScores((forward + backward) / 2, forward, backward)

    def _resnik_and_simgic(
        self, query: Indices, matrix: ProfileMatrix, rows: Rows | None
    ) -> tuple[Scores, Scores]:
        """Raw Resnik BMA and simGIC of every row (of ``rows``), from one pass (0 if dead)."""
        if matrix.ontology is not self.ontology:
            raise ValueError("the profile matrix belongs to another ontology release")
        profiles, live = matrix.select(rows)
        tracked = self._informative_closure(query)
        forward, backward, shared = _one_vs_many.resnik_bma_and_shared_weights(
            self.ontology, self.ic, query, tracked, profiles
        )
        resnik = (forward + backward) / 2
        simgic = self._simgic(tracked, shared, _pick(self._closure_weights(matrix), rows))
        dead = ~live
        resnik[dead] = 0.0
        simgic[dead] = 0.0
        return resnik, simgic

    def _simgic(self, tracked: Indices, shared: Scores, closure_weights: Scores) -> Scores:
        """simGIC of each row from its shared closure weight with the query's ``tracked``."""
        union = float(self.ic[tracked].sum()) + closure_weights - shared
        score = np.zeros(len(shared))
        np.divide(shared, union, out=score, where=union > 0)
        np.minimum(score, 1.0, out=score)
        return score

    def _pair_table(self, left: Indices, right: Indices, method: Method) -> Scores:
        """``(len(left), len(right))`` similarities, from the terms' ancestor sets only."""
        closure = self.ontology.ancestor_closure
        left_owner, left_ancestors = expand(closure, left)
        right_owner, right_ancestors = expand(closure, right)
        universe = np.union1d(left_ancestors, right_ancestors)
        in_left = np.zeros((len(left), len(universe)), dtype=bool)
        in_left[left_owner, np.searchsorted(universe, left_ancestors)] = True
        in_right = np.zeros((len(right), len(universe)), dtype=bool)
        in_right[right_owner, np.searchsorted(universe, right_ancestors)] = True
        common = in_left[:, None, :] & in_right[None, :, :]
        shared = np.where(common, self.ic[universe], 0.0).max(axis=2)
        return self._from_shared(shared, self.ic[left][:, None], self.ic[right][None, :], method)

    def _query_table(self, query: Indices, method: Method) -> npt.NDArray[np.float32]:
        """Term-by-query-term similarities, shape ``(terms, len(query))``, float32.

        float32 halves the memory traffic of one-vs-many scoring.
        """
        ic = self.ic
        table = np.empty((len(ic), len(query)), dtype=np.float32)
        for column, term in enumerate(query):
            shared = np.zeros(len(ic))
            ancestors = self.ontology.ancestors(int(term))
            # Writing ancestors' descendant sets in increasing IC leaves IC(MICA) in each cell.
            for ancestor in ancestors[np.argsort(ic[ancestors], kind="stable")]:
                shared[self.ontology.descendants(int(ancestor))] = ic[ancestor]
            table[:, column] = self._from_shared(shared, ic[term], ic, method)
        return table

    @staticmethod
    def _from_shared(
        shared: Scores, ic_a: Scores | np.float64, ic_b: Scores, method: Method
    ) -> Scores:
        """The measure from ``IC(MICA)`` (``shared``) and the ICs of both terms."""
        if method is Method.RESNIK:
            return shared
        if method is Method.LIN:
            total = np.broadcast_to(ic_a + ic_b, shared.shape)
            lin = np.zeros_like(shared)
            np.divide(2 * shared, total, out=lin, where=total > 0)
            return lin
        distance = np.maximum(ic_a + ic_b - 2 * shared, 0.0)
        similarity: Scores = 1.0 / (1.0 + distance)
        return similarity

    def _group_simgic(self, left: Indices, right: Indices) -> float:
        first = np.unique(expand(self.ontology.ancestor_closure, left)[1])
        second = np.unique(expand(self.ontology.ancestor_closure, right)[1])
        union = float(self.ic[np.union1d(first, second)].sum())
        shared = float(self.ic[np.intersect1d(first, second)].sum())
        return shared / union if union > 0 else 0.0

    def _informative_closure(self, terms: Indices) -> Indices:
        """Ancestors of ``terms`` (terms included) with a positive IC."""
        closure = np.unique(expand(self.ontology.ancestor_closure, terms)[1])
        return closure[self.ic[closure] > 0]

    def _closure_weights(self, matrix: ProfileMatrix) -> Scores:
        """IC sum of each row's ancestor closure (see :func:`_per_row`)."""
        return _per_row(*self._row_caches()["closure_weight"], matrix)

    def _mean_ic(self, matrix: ProfileMatrix) -> Scores:
        """Mean IC of each row's terms, its Resnik self-similarity (see :func:`_per_row`)."""
        return _per_row(*self._row_caches()["mean_ic"], matrix)


def _pick(values: Scores, rows: Rows | None) -> Scores:
    """The per-row ``values`` of ``rows`` (all of them if None)."""
    return values if rows is None else values[rows]


def _rows_of(profiles: Csr, rows: npt.NDArray[np.integer]) -> Csr:
    """The ``rows`` of ``profiles``, in that order, as a :class:`Csr` of their own."""
    lengths = profiles.indptr[rows + 1] - profiles.indptr[rows]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return Csr(indptr, expand(profiles, rows)[1])


_RowCache = weakref.WeakKeyDictionary[ProfileMatrix, tuple[int, Scores]]
"""Per matrix: its generation and one value per row, as computed then."""


def _per_row(cache: _RowCache, compute: Callable[[Csr], Scores], matrix: ProfileMatrix) -> Scores:
    """``compute`` of every row of ``matrix``, cached: the same for every query.

    Rows only change by appending (a replaced profile is a new row) until the
    matrix is compacted, which bumps its generation; so only appended rows
    are computed, and everything again after a compaction.
    """
    generation, values = cache.get(matrix, (-1, np.zeros(0)))
    if generation != matrix.generation:
        values = np.zeros(0)
    if len(values) < matrix.rows:
        extra = compute(_one_vs_many.rows_from(matrix.csr, len(values)))
        values = np.concatenate([values, extra])
        cache[matrix] = (matrix.generation, values)
    return values[: matrix.rows]
