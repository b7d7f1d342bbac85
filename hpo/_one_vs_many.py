"""One query profile against every row of a profile CSR, vectorised over rows.

Rows are processed in chunks of about ``CHUNK_ENTRIES`` term entries so the
temporaries stay small (a few MB) whatever the number of profiles; within a
chunk every step is a numpy operation over all its rows. Empty rows score 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from hpo._bitsets import TrackedBits
from hpo._csr import Csr, Indices, expand, row_chunks
from hpo.ontology import Ontology

Scores = npt.NDArray[np.float64]

CHUNK_ENTRIES = 1 << 16
"""Term entries per chunk: small enough for the CPU caches, large enough for numpy."""


class _Chunk(NamedTuple):
    rows: npt.NDArray[np.int64]  # the non-empty rows of the chunk
    entries: Indices  # their terms, concatenated
    offsets: npt.NDArray[np.int64]  # where each row starts in ``entries``
    lengths: npt.NDArray[np.int64]  # how many terms each row has


def _chunks(profiles: Csr) -> Iterator[_Chunk]:
    lengths = profiles.lengths()
    for first, last in row_chunks(profiles.indptr, CHUNK_ENTRIES):
        start, stop = int(profiles.indptr[first]), int(profiles.indptr[last])
        if stop == start:
            continue
        rows = np.flatnonzero(lengths[first:last]) + first
        yield _Chunk(
            rows, profiles.indices[start:stop], profiles.indptr[rows] - start, lengths[rows]
        )


def _row_means(values: npt.NDArray[np.floating], chunk: _Chunk) -> Scores:
    sums = np.add.reduceat(np.take(values, chunk.entries), chunk.offsets, dtype=np.float64)
    means: Scores = sums / chunk.lengths
    return means


def row_means(values: npt.NDArray[np.floating], profiles: Csr) -> Scores:
    """Mean of ``values`` over the terms of each row."""
    means = np.zeros(profiles.rows)
    for chunk in _chunks(profiles):
        means[chunk.rows] = _row_means(values, chunk)
    return means


def table_bma(table: npt.NDArray[np.floating], profiles: Csr) -> tuple[Scores, Scores]:
    """Both BMA directions from a ``(terms, query terms)`` similarity table (any measure)."""
    forward = np.zeros(profiles.rows)
    backward = np.zeros(profiles.rows)
    best_for_term = table.max(axis=1)
    for chunk in _chunks(profiles):
        gathered = np.take(table, chunk.entries, axis=0)
        forward[chunk.rows] = np.maximum.reduceat(gathered, chunk.offsets, axis=0).mean(axis=1)
        backward[chunk.rows] = _row_means(best_for_term, chunk)
    return forward, backward


def resnik_bma(
    ontology: Ontology, ic: Scores, query: Indices, tracked: Indices, profiles: Csr
) -> tuple[Scores, Scores]:
    """Both Resnik BMA directions through bitsets of ``tracked`` (the query's informative closure).

    forward: the best match of query term ``q`` in a profile is the IC of the
    highest bit of ``profile bits & ancestors(q)``; backward: each profile
    term's best match over the query, averaged per row.
    """
    forward, backward, _ = _resnik_pass(ontology, ic, query, tracked, profiles, False)
    return forward, backward


def resnik_bma_and_shared_weights(
    ontology: Ontology, ic: Scores, query: Indices, tracked: Indices, profiles: Csr
) -> tuple[Scores, Scores, Scores]:
    """:func:`resnik_bma` and :func:`shared_closure_weights` from one pass over ``profiles``.

    Both read the same row bitsets (``closure(row) & tracked``), so simGIC
    beside Resnik costs one weighted popcount per row, not a second pass.
    Returns forward, backward and shared weights.
    """
    return _resnik_pass(ontology, ic, query, tracked, profiles, True)


def _resnik_pass(
    ontology: Ontology,
    ic: Scores,
    query: Indices,
    tracked: Indices,
    profiles: Csr,
    with_shared_weights: bool,
) -> tuple[Scores, Scores, Scores]:
    bits = TrackedBits(ontology, ic, tracked)
    masks = [bits.mask(ontology.ancestors(int(term))) for term in query]
    best_for_term = bits.highest_ic(bits.term_bits)
    forward = np.zeros(profiles.rows)
    backward = np.zeros(profiles.rows)
    shared = np.zeros(profiles.rows if with_shared_weights else 0)
    for chunk in _chunks(profiles):
        row_bits = bits.or_rows(chunk.entries, chunk.offsets)
        total = np.zeros(len(chunk.rows))
        for mask in masks:
            total += bits.highest_ic(row_bits, mask)
        forward[chunk.rows] = total / len(query)
        backward[chunk.rows] = _row_means(best_for_term, chunk)
        if with_shared_weights:
            shared[chunk.rows] = bits.weight(row_bits)
    return forward, backward, shared


def shared_closure_weights(
    ontology: Ontology, ic: Scores, tracked: Indices, profiles: Csr
) -> Scores:
    """IC sum of ``closure(row) & tracked`` for each row (simGIC's numerator)."""
    bits = TrackedBits(ontology, ic, tracked)
    shared = np.zeros(profiles.rows)
    for chunk in _chunks(profiles):
        shared[chunk.rows] = bits.weight(bits.or_rows(chunk.entries, chunk.offsets))
    return shared


def rows_from(profiles: Csr, first_row: int) -> Csr:
    """The rows from ``first_row`` on, as a :class:`Csr` of their own (views)."""
    start = profiles.indptr[first_row]
    return Csr(profiles.indptr[first_row:] - start, profiles.indices[int(start) :])


def closure_weights(ontology: Ontology, ic: Scores, profiles: Csr) -> Scores:
    """IC sum over the distinct ancestors of each row.

    Sorts every row's expanded ancestors, so it is the slow part of simGIC
    (seconds per million rows); callers cache it.
    """
    terms = len(ontology)
    weights = np.zeros(profiles.rows)
    for chunk in _chunks(profiles):
        local = np.repeat(np.arange(len(chunk.rows), dtype=np.int64), chunk.lengths)
        owner, ancestor = expand(ontology.ancestor_closure, chunk.entries)
        cells = np.sort(local[owner] * terms + ancestor)
        distinct = np.ones(len(cells), dtype=bool)
        distinct[1:] = cells[1:] != cells[:-1]
        row, term = np.divmod(cells[distinct], terms)
        weights[chunk.rows] = np.bincount(row, weights=ic[term], minlength=len(chunk.rows))
    return weights
