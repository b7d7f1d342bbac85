"""Bitsets over a query's ancestor closure: the fast path of one-vs-many scoring.

A query touches few terms: its terms' ancestors, a few dozen at most. Give
each such *tracked* term one bit, in increasing order of IC, and give every
ontology term the bitset of its tracked ancestors. OR-ing those bitsets over
a profile's terms yields, in one pass over the profile matrix, the set
``closure(profile) & tracked``. From it:

* the Resnik best match of query term ``q`` in the profile is the IC of the
  highest bit of ``bits & ancestors(q)`` (bits are sorted by IC), so each
  query term costs a few operations per *profile*, not per profile *term*;
* the simGIC intersection weight is the IC-weighted popcount of ``bits``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hpo._csr import Indices
from hpo.ontology import Ontology

Bits = npt.NDArray[np.uint64]
Floats = npt.NDArray[np.float64]

WORD = 64
_LOW_HALF = np.uint64(0xFFFFFFFF)
_BYTE_VALUES = np.arange(256, dtype=np.uint64)


class TrackedBits:
    """Bitsets of ``tracked`` terms (bit order: increasing IC, then index)."""

    def __init__(self, ontology: Ontology, ic: Floats, tracked: Indices) -> None:
        self.terms = tracked[np.lexsort((tracked, ic[tracked]))]
        self.words = max(1, -(-len(self.terms) // WORD))
        self._position = {int(term): bit for bit, term in enumerate(self.terms)}
        self.term_bits = np.zeros((self.words, len(ontology)), dtype=np.uint64)
        for bit, term in enumerate(self.terms):
            descendants = ontology.descendants(int(term))
            self.term_bits[bit // WORD, descendants] |= np.uint64(1 << (bit % WORD))
        padded = np.zeros(self.words * WORD)
        padded[: len(self.terms)] = ic[self.terms]
        # One row per word; the extra last column (index -1) is the IC of "no bit set".
        self._bit_ic = np.zeros((self.words, WORD + 1))
        self._bit_ic[:, :WORD] = padded.reshape(self.words, WORD)
        # IC sums of every byte value at every byte position, for weighted popcounts.
        byte_bits = (_BYTE_VALUES[:, None] >> np.arange(8, dtype=np.uint64)) & np.uint64(1)
        per_byte = padded.reshape(self.words, WORD // 8, 8)
        self._byte_ic = np.einsum("bk,wjk->wjb", byte_bits.astype(np.float64), per_byte)

    def mask(self, terms: Indices) -> Bits:
        """The bitset (one value per word) of those ``terms`` that are tracked."""
        mask = np.zeros(self.words, dtype=np.uint64)
        for term in terms:
            bit = self._position.get(int(term))
            if bit is not None:
                mask[bit // WORD] |= np.uint64(1 << (bit % WORD))
        return mask

    def or_rows(self, entries: Indices, offsets: npt.NDArray[np.int64]) -> Bits:
        """``(words, rows)``: OR of the term bitsets of each row of ``entries``.

        Row ``i`` is ``entries[offsets[i]:offsets[i + 1]]``; rows must not be empty.
        """
        result = np.empty((self.words, len(offsets)), dtype=np.uint64)
        for word in range(self.words):
            gathered = np.take(self.term_bits[word], entries)
            result[word] = np.bitwise_or.reduceat(gathered, offsets)
        return result

    def highest_ic(self, bits: Bits, mask: Bits | None = None) -> Floats:
        """Per column of ``bits`` (``(words, n)``), the IC of its highest set bit (0 if none)."""
        best = np.zeros(bits.shape[1])
        for word in range(self.words):
            if mask is not None and not mask[word]:
                continue
            values = bits[word] if mask is None else bits[word] & mask[word]
            np.maximum(best, self._bit_ic[word][_highest_bit(values)], out=best)
        return best

    def weight(self, bits: Bits) -> Floats:
        """Per column of ``bits``, the sum of the ICs of its set bits."""
        total = np.zeros(bits.shape[1])
        for word in range(self.words):
            little_endian = bits[word].astype("<u8", copy=False)
            as_bytes = little_endian.view(np.uint8).reshape(-1, 8)
            for position in range(8):
                total += self._byte_ic[word, position][as_bytes[:, position]]
        return total


def _highest_bit(values: Bits) -> npt.NDArray[np.int64]:
    """Index of the highest set bit of each value, -1 for 0 (exact, via float exponents)."""
    # Each 32-bit half converts to float64 exactly, so frexp's exponent is exact.
    high = np.frexp((values >> np.uint64(32)).astype(np.float64))[1]
    low = np.frexp((values & _LOW_HALF).astype(np.float64))[1]
    result: npt.NDArray[np.int64] = np.where(high > 0, high + 31, low - 1).astype(np.int64)
    return result
