"""Many phenotype profiles, keyed, stored as one growable CSR of term indices.

A :class:`ProfileMatrix` is what one-vs-many scoring runs over: row ``r``
holds the sorted, distinct term indices of the profile stored under
``keys[r]``. Adding appends a row (amortised O(profile size)); removing
only marks the row dead (O(1)) and the matrix compacts itself once dead
rows outnumber live ones, so row numbers may change after :meth:`remove`;
keys never do. An owner that keeps data aligned with the rows turns the
automatic compaction off and calls :meth:`compact` itself, which says which
rows were kept.

The arrays may be memory maps (:meth:`from_arrays`): a saved matrix is
served without being read into memory, and rows appended later go to the
spare room at the end of the arrays (or to a private copy once it is full).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from hpo._csr import Csr, Indices, expand
from hpo.ontology import Ontology

_Array = TypeVar("_Array", bound=npt.NDArray[Any])
Rows = npt.NDArray[np.int64]
"""Row numbers of a matrix, to score or count some rows only."""

_INITIAL_ROWS = 1024
_INITIAL_ENTRIES = 8192


class ProfileMatrix:
    """Profiles (sets of current term ids) of one ontology release, by key."""

    def __init__(self, ontology: Ontology, *, compact_automatically: bool = True) -> None:
        self.ontology = ontology
        self.compact_automatically = compact_automatically
        self._indptr = np.zeros(_INITIAL_ROWS + 1, dtype=np.int64)
        self._indices = np.empty(_INITIAL_ENTRIES, dtype=np.int32)
        self._live = np.zeros(_INITIAL_ROWS, dtype=bool)
        self._rows = 0
        self._keys: list[str | None] = []
        self._row_of: dict[str, int] = {}
        self.generation = 0
        """Incremented whenever rows are renumbered (by :meth:`compact`)."""

    @classmethod
    def build(
        cls, ontology: Ontology, profiles: Iterable[tuple[str, Iterable[str]]]
    ) -> ProfileMatrix:
        """A matrix of ``(key, term ids)`` pairs; a repeated key keeps its last profile."""
        matrix = cls(ontology)
        for key, term_ids in profiles:
            matrix.add(key, term_ids)
        return matrix

    @classmethod
    def from_csr(
        cls,
        ontology: Ontology,
        keys: Sequence[str],
        indptr: npt.NDArray[np.integer],
        indices: npt.NDArray[np.integer],
    ) -> ProfileMatrix:
        """Bulk construction from term indices (``indptr`` of ``len(keys) + 1``).

        Rows are sorted and de-duplicated here; keys must be distinct.
        """
        if len(indptr) != len(keys) + 1:
            raise ValueError("indptr must have one entry more than keys")
        if len(set(keys)) != len(keys):
            raise ValueError("keys must be distinct")
        if len(indices) and (int(np.min(indices)) < 0 or int(np.max(indices)) >= len(ontology)):
            raise ValueError("term index out of range for this ontology")
        lengths = np.diff(np.asarray(indptr, dtype=np.int64)).astype(np.int64)
        owner = np.repeat(np.arange(len(keys), dtype=np.int64), lengths)
        entries = np.asarray(indices, dtype=np.int64)
        order = np.lexsort((entries, owner))
        owner, entries = owner[order], entries[order]
        distinct = np.ones(len(entries), dtype=bool)
        distinct[1:] = (owner[1:] != owner[:-1]) | (entries[1:] != entries[:-1])
        owner, entries = owner[distinct], entries[distinct]
        matrix = cls(ontology)
        matrix._indptr = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=len(keys)), out=matrix._indptr[1:])
        matrix._indices = entries.astype(np.int32)
        matrix._live = np.ones(len(keys), dtype=bool)
        matrix._rows = len(keys)
        matrix._keys = list(keys)
        matrix._row_of = {key: row for row, key in enumerate(keys)}
        return matrix

    @classmethod
    def from_arrays(
        cls,
        ontology: Ontology,
        keys: list[str | None],
        indptr: npt.NDArray[np.int64],
        indices: npt.NDArray[np.int32],
        live: npt.NDArray[np.bool_],
        *,
        compact_automatically: bool = True,
    ) -> ProfileMatrix:
        """A matrix over arrays as they are (e.g. memory-mapped from a saved matrix).

        Row ``r`` is ``indices[indptr[r]:indptr[r + 1]]`` for ``r < len(keys)``
        and must already be sorted and distinct; ``keys[r]`` is None for a dead
        row. The arrays may be longer than needed: the rest is room for rows
        added later. Nothing is copied; term indices are checked against the
        ontology.
        """
        rows = len(keys)
        if len(indptr) < rows + 1 or len(live) < rows:
            raise ValueError("indptr and live must cover every key")
        used = indices[: int(indptr[rows])]
        if len(used) and (int(used.min()) < 0 or int(used.max()) >= len(ontology)):
            raise ValueError("term index out of range for this ontology")
        matrix = cls(ontology, compact_automatically=compact_automatically)
        matrix._indptr, matrix._indices, matrix._live = indptr, indices, live
        matrix._rows = rows
        matrix._keys = keys
        matrix._row_of = {key: row for row, key in enumerate(keys) if key is not None}
        if len(matrix._row_of) != int(np.count_nonzero(live[:rows])):
            raise ValueError("keys must be distinct, one per live row")
        return matrix

    def __len__(self) -> int:
        """The number of (live) profiles."""
        return len(self._row_of)

    def __contains__(self, key: object) -> bool:
        return key in self._row_of

    @property
    def rows(self) -> int:
        """Rows in the matrix, including dead ones; score arrays have this length."""
        return self._rows

    @property
    def csr(self) -> Csr:
        """The rows as a :class:`Csr` (views, valid until the next change)."""
        return Csr(self._indptr[: self._rows + 1], self._indices[: self._indptr[self._rows]])

    @property
    def live(self) -> npt.NDArray[np.bool_]:
        """``live[r]`` is False for rows of removed profiles."""
        return self._live[: self._rows]

    def key(self, row: int) -> str | None:
        """The key stored in ``row``, or None if its profile was removed."""
        return self._keys[row]

    def keys(self) -> list[str | None]:
        """The key of every row (None for dead rows), a copy."""
        return list(self._keys)

    def row(self, key: str) -> int:
        """The current row of ``key`` (KeyError if absent; may change after :meth:`remove`)."""
        return self._row_of[key]

    def select(self, rows: Rows | None = None) -> tuple[Csr, npt.NDArray[np.bool_]]:
        """``rows`` (all rows if None) as a :class:`Csr` of their own, and whether each is live.

        Scoring a few rows of a large matrix (the candidates a query's genes
        already single out) gathers only their entries: row ``i`` of the
        result is row ``rows[i]`` of the matrix.
        """
        if rows is None:
            return self.csr, self.live
        csr = self.csr
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(csr.indptr[rows + 1] - csr.indptr[rows], out=indptr[1:])
        return Csr(indptr, expand(csr, rows)[1]), self.live[rows]

    def count_in_rows(
        self, term_mask: npt.NDArray[np.bool_], rows: Rows | None = None
    ) -> npt.NDArray[np.int64]:
        """For each row (of ``rows`` if given), how many of its terms ``term_mask`` marks.

        One pass over the entries, no loop over rows; dead rows count 0. The
        marked entries are usually few, so only they are located in their rows.
        """
        csr, live = self.select(rows)
        marked = np.flatnonzero(term_mask[csr.indices])
        owners = np.searchsorted(csr.indptr, marked, side="right") - 1
        counts = np.bincount(owners, minlength=csr.rows)
        counts[~live] = 0
        return counts

    def terms(self, key: str) -> tuple[str, ...]:
        """The term ids of the profile stored under ``key`` (KeyError if absent)."""
        row = self._row_of[key]
        span = self._indices[self._indptr[row] : self._indptr[row + 1]]
        return tuple(self.ontology.ids[i] for i in span)

    def add(self, key: str, term_ids: Iterable[str]) -> None:
        """Store a profile (current term ids, see :meth:`Ontology.index_of`), replacing ``key``."""
        indices = sorted({self.ontology.index_of(t) for t in term_ids})
        self.remove(key)
        self._reserve(1, len(indices))
        start = self._indptr[self._rows]
        self._indices[start : start + len(indices)] = indices
        self._indptr[self._rows + 1] = start + len(indices)
        self._live[self._rows] = True
        self._keys.append(key)
        self._row_of[key] = self._rows
        self._rows += 1

    def remove(self, key: str) -> bool:
        """Forget the profile of ``key``; False if there was none."""
        row = self._row_of.pop(key, None)
        if row is None:
            return False
        self._live[row] = False
        self._keys[row] = None
        if self.compact_automatically and self.worth_compacting():
            self.compact()
        return True

    def worth_compacting(self) -> bool:
        """True once dead rows outnumber live ones (and a thousand)."""
        return self._rows - len(self._row_of) > max(_INITIAL_ROWS, len(self._row_of))

    def compact(self) -> npt.NDArray[np.int64]:
        """Drop dead rows now; returns the old row of each new row (keys do not change)."""
        live_rows = np.flatnonzero(self.live)
        csr = self.csr
        lengths = csr.lengths()[live_rows]
        keep = np.repeat(self.live, csr.lengths())
        self._indices = csr.indices[keep].copy()
        self._indptr = np.zeros(len(live_rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self._indptr[1:])
        self._keys = [self._keys[r] for r in live_rows]
        self._live = np.ones(len(live_rows), dtype=bool)
        self._rows = len(live_rows)
        self._row_of = {key: row for row, key in enumerate(self._keys) if key is not None}
        self.generation += 1
        return live_rows.astype(np.int64)

    def top(
        self, scores: npt.NDArray[np.floating], limit: int, min_score: float = 0.0
    ) -> list[tuple[str, float]]:
        """The ``limit`` best ``(key, score)`` of live rows scoring at least ``min_score``.

        Ties are broken by row order, so results are deterministic.
        """
        eligible = np.flatnonzero(self.live & (scores[: self._rows] >= min_score))
        if limit <= 0 or len(eligible) == 0:
            return []
        values = scores[eligible]
        if len(eligible) > limit:
            part = np.argpartition(-values, limit - 1)[:limit]
            eligible, values = eligible[part], values[part]
        order = np.lexsort((eligible, -values))
        return [
            (str(self._keys[r]), float(s))
            for r, s in zip(eligible[order], values[order], strict=True)
        ]

    def _reserve(self, rows: int, entries: int) -> None:
        if self._rows + rows + 1 > len(self._indptr):
            size = max(2 * len(self._indptr), self._rows + rows + 1)
            self._indptr = _grown(self._indptr, size)
            self._live = _grown(self._live, size - 1)
        needed = int(self._indptr[self._rows]) + entries
        if needed > len(self._indices):
            self._indices = _grown(self._indices, max(2 * len(self._indices), needed))


def _grown(array: _Array, size: int) -> _Array:
    bigger = np.zeros(size, dtype=array.dtype)
    bigger[: len(array)] = array
    return cast(_Array, bigger)


def profile_indices(ontology: Ontology, term_ids: Iterable[str]) -> Indices:
    """Sorted distinct indices of current term ids (a profile or a query)."""
    return np.asarray(sorted({ontology.index_of(t) for t in term_ids}), dtype=np.int32)
