"""Per-patient facts kept as arrays aligned with a partition's rows.

A match index may hold a million patients. One Python object per patient
and fact costs about a kilobyte of memory and tens of microseconds to build
each; here each kind of fact is one array, or one compressed sparse row
(CSR) of values, indexed by the partition's row. Arrays build fast, save
as blocks and are served memory-mapped (:mod:`.snapshot`).

Text values (gene ids, allele keys, patient ids, contacts) are kept as
64-bit hashes (:func:`value_hash`): equal texts have equal hashes in every
process, and two different texts share one with a probability of about
``n**2 / 2**65`` for ``n`` distinct texts (1e-7 for two million), the only
effect of which would be one spurious gene or variant hit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Rows = npt.NDArray[np.int64]

_INITIAL = 1024


def value_hash(text: str) -> int:
    """A 64-bit hash of ``text``, the same in every process and release of Python."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def value_hashes(texts: Iterable[str]) -> list[int]:
    return [value_hash(text) for text in texts]


def _room(array: npt.NDArray[Any], needed: int) -> npt.NDArray[Any]:
    """``array`` if it holds ``needed`` items, else a copy with room to grow."""
    if needed <= len(array):
        return array
    bigger = np.zeros(max(needed, 2 * len(array), _INITIAL), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


class Column:
    """One value per row (an owner code, a contact hash)."""

    def __init__(self, dtype: type[np.generic], values: npt.NDArray[Any] | None = None) -> None:
        self._values = np.zeros(_INITIAL, dtype=dtype) if values is None else values
        self._rows = 0 if values is None else len(values)

    @classmethod
    def from_array(cls, values: npt.NDArray[Any], rows: int) -> Column:
        """A column over ``values[:rows]``; the rest of ``values`` is room to grow."""
        column = cls(values.dtype.type, values)
        column._rows = rows
        return column

    @property
    def values(self) -> npt.NDArray[Any]:
        return self._values[: self._rows]

    def append(self, value: int) -> None:
        self._values = _room(self._values, self._rows + 1)
        self._values[self._rows] = value
        self._rows += 1

    def compact(self, kept: Rows) -> None:
        self._values = self.values[kept].copy()
        self._rows = len(kept)


class ValueSets:
    """For each row a set of values (a CSR), and the rows that hold any of some values.

    Lookups go through postings (values sorted, with their rows) built over
    the rows present when they were last built; rows appended since are
    scanned directly, and the postings are rebuilt once such rows are many.
    Rows are never removed here: a dead row keeps its values, and callers
    ignore dead rows (a match scores live rows only).
    """

    def __init__(self, dtype: type[np.generic] = np.int64) -> None:
        self._indptr = np.zeros(_INITIAL + 1, dtype=np.int64)
        self._values = np.zeros(_INITIAL, dtype=dtype)
        self._rows = 0
        self._posted_rows = 0
        self._posted_values: npt.NDArray[Any] = np.zeros(0, dtype=dtype)
        self._posted_owners: Rows = np.zeros(0, dtype=np.int64)

    @classmethod
    def from_arrays(
        cls, indptr: npt.NDArray[np.int64], values: npt.NDArray[Any], rows: int
    ) -> ValueSets:
        """Sets over ``indptr[:rows + 1]`` and ``values`` (longer arrays leave room to grow)."""
        if len(indptr) < rows + 1:
            raise ValueError("indptr must cover every row")
        sets = cls(values.dtype.type)
        sets._indptr, sets._values, sets._rows = indptr, values, rows
        return sets

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def indptr(self) -> npt.NDArray[np.int64]:
        return self._indptr[: self._rows + 1]

    @property
    def values(self) -> npt.NDArray[Any]:
        return self._values[: self._indptr[self._rows]]

    def lengths(self) -> Rows:
        return np.diff(self.indptr)

    def selected(self, rows: Rows | None = None) -> tuple[Rows, npt.NDArray[Any]]:
        """The sets of ``rows`` (all rows if None) as a CSR of their own: indptr and values."""
        if rows is None:
            return self.indptr, self.values
        starts = self._indptr[rows]
        lengths = self._indptr[rows + 1] - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        positions = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return indptr, self._values[positions]

    def row(self, row: int) -> npt.NDArray[Any]:
        return self._values[self._indptr[row] : self._indptr[row + 1]]

    def append(self, values: Sequence[int]) -> None:
        """Add a row holding ``values`` (given distinct)."""
        start = int(self._indptr[self._rows])
        self._indptr = _room(self._indptr, self._rows + 2)
        self._values = _room(self._values, start + len(values))
        self._values[start : start + len(values)] = values
        self._indptr[self._rows + 1] = start + len(values)
        self._rows += 1

    def compact(self, kept: Rows) -> None:
        """Keep only the rows ``kept`` (old row numbers, in their new order)."""
        lengths = self.lengths()[kept]
        starts = self.indptr[kept]
        within = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(lengths) - lengths, lengths
        )
        self._values = self._values[np.repeat(starts, lengths) + within].copy()
        self._indptr = np.zeros(len(kept) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self._indptr[1:])
        self._rows = len(kept)
        self._posted_rows = 0
        self._posted_values = self._values[:0]
        self._posted_owners = np.zeros(0, dtype=np.int64)

    def rows_with(self, wanted: Iterable[int]) -> Rows:
        """Rows holding at least one of the ``wanted`` values (dead rows included), sorted."""
        targets = np.unique(np.fromiter(wanted, dtype=self._values.dtype))
        if len(targets) == 0 or self._rows == 0:
            return np.zeros(0, dtype=np.int64)
        self._post_if_stale()
        starts = np.searchsorted(self._posted_values, targets, side="left")
        ends = np.searchsorted(self._posted_values, targets, side="right")
        found = [self._posted_owners[a:b] for a, b in zip(starts, ends, strict=True) if b > a]
        tail_start = int(self._indptr[self._posted_rows])
        tail = self._values[tail_start : self._indptr[self._rows]]
        hits = np.flatnonzero(np.isin(tail, targets))
        if len(hits):
            tail_indptr = self._indptr[self._posted_rows : self._rows + 1] - tail_start
            found.append(self._posted_rows + np.searchsorted(tail_indptr, hits, side="right") - 1)
        if not found:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(found)).astype(np.int64)

    def _post_if_stale(self) -> None:
        """Rebuild the postings once the rows they miss are many (a tenth, and a thousand)."""
        unposted = self._rows - self._posted_rows
        if unposted <= max(_INITIAL, self._posted_rows // 10):
            return
        values = self.values
        owners = np.repeat(np.arange(self._rows, dtype=np.int64), self.lengths())
        order = np.argsort(values, kind="stable")
        self._posted_values = values[order]
        self._posted_owners = owners[order]
        self._posted_rows = self._rows
