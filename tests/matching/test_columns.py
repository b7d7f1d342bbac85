"""Per-row value sets and columns: lookups through postings and the unposted tail, compaction."""

from __future__ import annotations

import numpy as np

from mme_node.matching.columns import Column, ValueSets, value_hash


def test_value_hash_is_stable_across_processes_and_distinguishes_texts() -> None:
    # A fixed value: snapshots written by one process are read by another.
    assert value_hash("HGNC:10585") == value_hash("HGNC:10585")
    assert value_hash("HGNC:10585") != value_hash("HGNC:10586")
    assert value_hash("HGNC:10585") == 5339934560292225164  # saved indexes depend on it


def test_rows_with_finds_rows_in_the_postings_and_in_rows_appended_since() -> None:
    sets = ValueSets()
    for row in range(3000):
        sets.append([row % 7, 100 + row % 3] if row % 2 else [row % 7])
    early = sets.rows_with([5])  # builds the postings over 3,000 rows
    sets.append([5, 9])
    sets.append([9])
    assert list(early) == [row for row in range(3000) if row % 7 == 5]
    assert list(sets.rows_with([9])) == [3000, 3001]
    assert list(sets.rows_with([5]))[-1] == 3000
    assert list(sets.rows_with([101])) == [row for row in range(3000) if row % 2 and row % 3 == 1]
    assert list(sets.rows_with([])) == [] and list(sets.rows_with([404])) == []


def test_compaction_keeps_the_chosen_rows_in_order_and_forgets_old_postings() -> None:
    sets = ValueSets()
    column = Column(np.int64)
    for row in range(2000):
        sets.append([row, -row])
        column.append(row * 10)
    assert len(sets.rows_with([1500])) == 1  # postings built
    kept = np.array([1500, 3, 1999], dtype=np.int64)
    sets.compact(kept)
    column.compact(kept)
    assert [list(sets.row(r)) for r in range(3)] == [[1500, -1500], [3, -3], [1999, -1999]]
    assert list(sets.rows_with([3, -1999])) == [1, 2]
    assert list(sets.rows_with([1998])) == []
    assert list(column.values) == [15000, 30, 19990]
