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
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from hpo._bitsets import TrackedBits, row_chunks
from hpo._csr import Csr, Indices, expand
from hpo.information import InformationContent
from hpo.ontology import Ontology
from hpo.profiles import ProfileMatrix, profile_indices

Scores = npt.NDArray[np.float64]

_CHUNK_ENTRIES = 1 << 19
"""Profile entries gathered at once: bounds the temporary memory of one-vs-many scoring."""


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


class SimilarityEngine:
    """Similarity measures of one ontology with one information content."""

    def __init__(self, ontology: Ontology, information_content: InformationContent) -> None:
        if len(information_content) != len(ontology):
            raise ValueError("information content and ontology have different term counts")
        self.ontology = ontology
        self.ic = information_content.values
        self._closure_cache: weakref.WeakKeyDictionary[ProfileMatrix, tuple[int, Scores]] = (
            weakref.WeakKeyDictionary()
        )

    def most_informative_common_ancestor(self, a: str, b: str) -> tuple[str, float]:
        """The common ancestor of highest IC and that IC (ties: lowest term id)."""
        common = np.intersect1d(self.ontology.ancestors(a), self.ontology.ancestors(b))
        best = int(common[np.argmax(self.ic[common])])
        return self.ontology.term_id(best), float(self.ic[best])

    mica = most_informative_common_ancestor

    def term_similarity(self, a: str, b: str, method: Method | str = Method.RESNIK) -> float:
        """Similarity of two current terms by ``method``."""
        method = Method(method)
        if method is Method.SIMGIC:
            first, second = self.ontology.ancestors(a), self.ontology.ancestors(b)
            union = float(self.ic[np.union1d(first, second)].sum())
            shared = float(self.ic[np.intersect1d(first, second)].sum())
            return shared / union if union > 0 else 0.0
        vector = self._similarity_vector(self.ontology.index_of(a), method)
        return float(vector[self.ontology.index_of(b)])

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
        table = self._query_table(right, method, np.float64)[
            left
        ]  # rows: first's terms, columns: second's
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
    ) -> Scores:
        """One symmetric score per row of ``matrix`` against the ``query`` profile.

        With ``normalized`` the scores lie in ``[0, 1]`` (see the module
        docstring). Vectorised over profiles: the cost is a few passes over
        the matrix's term entries per query term, no Python loop per profile.
        """
        method = Method(method)
        wanted = profile_indices(self.ontology, query)
        scores = self._scores(wanted, matrix, method).score
        if normalized and method is Method.RESNIK and len(wanted):
            bound = (float(self.ic[wanted].mean()) + self._mean_ic_per_row(matrix)) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                scores = np.where(bound > 0, np.minimum(scores / bound, 1.0), 0.0)
        return scores

    def profile_scores(
        self, query: Iterable[str], matrix: ProfileMatrix, method: Method | str = Method.RESNIK
    ) -> ProfileScores:
        """Raw scores of every row of ``matrix`` against ``query``, with both directions."""
        return self._scores(profile_indices(self.ontology, query), matrix, Method(method))

    def _scores(self, query: Indices, matrix: ProfileMatrix, method: Method) -> ProfileScores:
        if matrix.ontology is not self.ontology:
            raise ValueError("the profile matrix belongs to another ontology release")
        rows = matrix.rows
        if len(query) == 0 or rows == 0:
            return ProfileScores(np.zeros(rows), np.zeros(rows), np.zeros(rows))
        if method is Method.SIMGIC:
            score = self._matrix_simgic(query, matrix)
            return ProfileScores(score, score.copy(), score.copy())
        if method is Method.RESNIK:
            forward, backward = self._matrix_resnik(query, matrix)
        else:
            forward, backward = self._matrix_bma(self._query_table(query, method), matrix)
        dead = ~matrix.live
        forward[dead] = 0.0
        backward[dead] = 0.0
        return ProfileScores((forward + backward) / 2, forward, backward)

    def _similarity_vector(self, query: int, method: Method) -> npt.NDArray[np.float64]:
        """``v[t]`` = similarity of term ``query`` with every term ``t``."""
        ic = self.ic
        shared = np.zeros(len(ic))
        ancestors = self.ontology.ancestors(query)
        # Writing ancestors' descendant sets in increasing IC leaves IC(MICA) in each cell.
        for ancestor in ancestors[np.argsort(ic[ancestors], kind="stable")]:
            shared[self.ontology.descendants(int(ancestor))] = ic[ancestor]
        if method is Method.RESNIK:
            return shared
        if method is Method.LIN:
            total = ic[query] + ic
            lin = np.zeros_like(shared)
            np.divide(2 * shared, total, out=lin, where=total > 0)
            return lin
        distance = np.maximum(ic[query] + ic - 2 * shared, 0.0)
        similarity: npt.NDArray[np.float64] = 1.0 / (1.0 + distance)
        return similarity

    def _query_table(
        self, query: Indices, method: Method, dtype: type[np.floating] = np.float32
    ) -> npt.NDArray[np.floating]:
        """Term-by-query-term similarities, shape ``(terms, len(query))``.

        float32 halves the memory traffic of one-vs-many scoring; pairwise
        scoring asks for float64.
        """
        table = np.empty((len(self.ic), len(query)), dtype=dtype)
        for column, term in enumerate(query):
            table[:, column] = self._similarity_vector(int(term), method)
        return table

    def _matrix_bma(
        self, table: npt.NDArray[np.floating], matrix: ProfileMatrix
    ) -> tuple[Scores, Scores]:
        """BMA from a term-by-query-term table (any measure), chunk by chunk."""
        csr = matrix.csr
        lengths = csr.lengths()
        forward = np.zeros(matrix.rows)
        backward = np.zeros(matrix.rows)
        best_for_term = table.max(axis=1)
        for first, last in row_chunks(csr.indptr, _CHUNK_ENTRIES):
            start, stop = csr.indptr[first], csr.indptr[last]
            if stop == start:
                continue
            entries = csr.indices[start:stop]
            filled = np.flatnonzero(lengths[first:last]) + first
            offsets = csr.indptr[filled] - start
            best = np.maximum.reduceat(np.take(table, entries, axis=0), offsets, axis=0)
            forward[filled] = best.mean(axis=1)
            backward[filled] = self._row_means(best_for_term, entries, offsets, lengths[filled])
        return forward, backward

    def _matrix_resnik(self, query: Indices, matrix: ProfileMatrix) -> tuple[Scores, Scores]:
        """Resnik BMA through bitsets of the query's ancestors (see :mod:`hpo._bitsets`)."""
        tracked = self._informative_closure(query)
        bits = TrackedBits(self.ontology, self.ic, tracked)
        csr = matrix.csr
        lengths = csr.lengths()
        profile_bits = bits.profile_bits(csr, _CHUNK_ENTRIES)
        forward = np.zeros(matrix.rows)
        for term in query:
            forward += bits.highest_ic(profile_bits, bits.mask(self.ontology.ancestors(int(term))))
        forward /= len(query)
        best_for_term = bits.highest_ic(bits.term_bits)
        backward = np.zeros(matrix.rows)
        filled = np.flatnonzero(lengths)
        backward[filled] = self._row_means(
            best_for_term, csr.indices, csr.indptr[filled], lengths[filled]
        )
        return forward, backward

    def _matrix_simgic(self, query: Indices, matrix: ProfileMatrix) -> Scores:
        """Group-wise simGIC: shared weight from bitsets, union from cached closure weights."""
        tracked = self._informative_closure(query)
        bits = TrackedBits(self.ontology, self.ic, tracked)
        shared = bits.weight(bits.profile_bits(matrix.csr, _CHUNK_ENTRIES))
        union = float(self.ic[tracked].sum()) + self._closure_weights(matrix) - shared
        scores = np.zeros(matrix.rows)
        np.divide(shared, union, out=scores, where=(union > 0) & matrix.live)
        return np.minimum(scores, 1.0, out=scores)

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
        """IC sum of each row's ancestor closure; cached, extended as rows are appended."""
        generation, weights = self._closure_cache.get(matrix, (-1, np.zeros(0)))
        if generation != matrix.generation:
            weights = np.zeros(0)
        if len(weights) < matrix.rows:
            extra = _profile_closure_weights(self.ontology, self.ic, matrix.csr, len(weights))
            weights = np.concatenate([weights, extra])
            self._closure_cache[matrix] = (matrix.generation, weights)
        return weights[: matrix.rows]

    @staticmethod
    def _row_means(
        values: npt.NDArray[np.floating],
        entries: Indices,
        offsets: npt.NDArray[np.int64],
        lengths: npt.NDArray[np.int64],
    ) -> Scores:
        """Mean of ``values`` over each non-empty row of ``entries`` starting at ``offsets``."""
        sums = np.add.reduceat(np.take(values, entries).astype(np.float64), offsets)
        means: Scores = sums / lengths
        return means

    def _mean_ic_per_row(self, matrix: ProfileMatrix) -> Scores:
        """Each profile's self-similarity under Resnik BMA (0 for empty rows)."""
        csr = matrix.csr
        lengths = csr.lengths()
        means = np.zeros(matrix.rows)
        filled = np.flatnonzero(lengths)
        means[filled] = self._row_means(self.ic, csr.indices, csr.indptr[filled], lengths[filled])
        return means


def _profile_closure_weights(
    ontology: Ontology, ic: Scores, profiles: Csr, first_row: int
) -> Scores:
    """IC sum over the distinct ancestors of each profile from ``first_row`` on."""
    terms = len(ontology)
    weights = np.zeros(profiles.rows - first_row)
    lengths = profiles.lengths()
    for first, last in row_chunks(
        profiles.indptr[first_row:] - profiles.indptr[first_row], 1 << 16
    ):
        start, stop = profiles.indptr[first_row + first], profiles.indptr[first_row + last]
        rows = np.repeat(
            np.arange(last - first, dtype=np.int64), lengths[first_row + first : first_row + last]
        )
        owner, ancestor = expand(ontology.ancestor_closure, profiles.indices[start:stop])
        cells = np.sort(rows[owner] * terms + ancestor)
        distinct = np.ones(len(cells), dtype=bool)
        distinct[1:] = cells[1:] != cells[:-1]
        row, term = np.divmod(cells[distinct], terms)
        weights[first:last] = np.bincount(row, weights=ic[term], minlength=last - first)
    return weights
