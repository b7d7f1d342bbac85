"""Compressed sparse rows: the one shape used for every term-to-terms relation.

Row ``i`` of a :class:`Csr` is ``indices[indptr[i]:indptr[i + 1]]``; parents,
ancestor closures, descendant sets and patient profiles all use it, so the
hot paths gather and reduce over flat ``int32`` arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

Indices = npt.NDArray[np.int32]


class Csr(NamedTuple):
    """Rows of sorted ``int32`` term indices."""

    indptr: npt.NDArray[np.int64]
    indices: Indices

    def row(self, i: int) -> Indices:
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def lengths(self) -> npt.NDArray[np.int64]:
        return np.diff(self.indptr)

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1


def csr_from_rows(rows: Sequence[Sequence[int]]) -> Csr:
    """Pack rows (each sorted and sorted again here) into a :class:`Csr`."""
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.fromiter(
        (i for row in rows for i in sorted(row)), dtype=np.int32, count=int(indptr[-1])
    )
    return Csr(indptr, indices)


def transpose(csr: Csr, columns: int) -> Csr:
    """The transposed relation (e.g. descendants from ancestors), rows sorted."""
    row_of_entry = np.repeat(np.arange(csr.rows, dtype=np.int32), csr.lengths())
    order = np.lexsort((row_of_entry, csr.indices))
    counts = np.bincount(csr.indices, minlength=columns)
    indptr = np.zeros(columns + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return Csr(indptr, row_of_entry[order])


def expand(csr: Csr, rows: npt.NDArray[np.integer]) -> tuple[npt.NDArray[np.int64], Indices]:
    """For each position ``k`` of ``rows``, the entries of row ``rows[k]``.

    Returns ``(owner, values)``: ``values`` concatenates the selected rows and
    ``owner[j]`` is the position in ``rows`` that ``values[j]`` came from.
    """
    starts = csr.indptr[rows]
    lengths = csr.indptr[np.asarray(rows) + 1] - starts
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    # Position of each output entry inside its own row, then offset by the row start.
    first_of_owner = np.cumsum(lengths) - lengths
    within = np.arange(total, dtype=np.int64) - np.repeat(first_of_owner, lengths)
    values = csr.indices[np.repeat(starts, lengths) + within]
    return owner, values


def row_chunks(indptr: npt.NDArray[np.int64], chunk_entries: int) -> list[tuple[int, int]]:
    """Consecutive row ranges holding about ``chunk_entries`` entries each."""
    rows = len(indptr) - 1
    if rows <= 0:
        return []
    thresholds = np.arange(chunk_entries, int(indptr[-1]), chunk_entries)
    cuts = np.searchsorted(indptr, thresholds, side="left")
    bounds = sorted({0, rows, *(min(int(c), rows) for c in cuts)})
    return list(zip(bounds[:-1], bounds[1:], strict=True))
