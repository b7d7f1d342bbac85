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

import functools

import numpy as np
import numpy.typing as npt

from hpo._csr import Indices
from hpo.ontology import Ontology

Bits = npt.NDArray[np.uint64]
Floats = npt.NDArray[np.float64]

WORD = 64
_ONE = np.uint64(1)
_EXPONENT_BIAS = 1023
_FRACTION_BITS = 52
"""float64 stores 52 bits after the leading one: 53 significant bits."""
_BYTE_VALUES = np.arange(256, dtype=np.uint64)


class TrackedBits:
    """Bitsets of ``tracked`` terms (bit order: increasing IC, then index)."""

    def __init__(self, ontology: Ontology, ic: Floats, tracked: Indices) -> None:
        self.terms = tracked[np.lexsort((tracked, ic[tracked]))]
        self.words = max(1, -(-len(self.terms) // WORD))
        self._position = {int(term): bit for bit, term in enumerate(self.terms)}
        self.term_bits = _descendant_bits(ontology, self.terms, self.words)
        self._padded_ic = np.zeros(self.words * WORD)
        self._padded_ic[: len(self.terms)] = ic[self.terms]
        # Indexed by the float64 exponent field of a highest bit (see _highest_bit_exponent):
        # bit k at _EXPONENT_BIAS + k, and 0 ("no bit set") at 0.
        self._exponent_ic = np.zeros((self.words, _EXPONENT_BIAS + WORD))
        self._exponent_ic[:, _EXPONENT_BIAS:] = self._padded_ic.reshape(self.words, WORD)

    @functools.cached_property
    def _byte_ic(self) -> npt.NDArray[np.float64]:
        """IC sums of every byte value at every byte position, for weighted popcounts."""
        byte_bits = (_BYTE_VALUES[:, None] >> np.arange(8, dtype=np.uint64)) & _ONE
        per_byte = self._padded_ic.reshape(self.words, WORD // 8, 8)
        table: npt.NDArray[np.float64] = np.einsum(
            "bk,wjk->wjb", byte_bits.astype(np.float64), per_byte
        )
        return table

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
            if mask is None:
                exponents = _highest_bit_exponent(bits[word], few_bits=False)
            else:
                few_bits = int(np.bitwise_count(mask[word])) <= _FRACTION_BITS
                exponents = _highest_bit_exponent(bits[word] & mask[word], few_bits)
            np.maximum(best, self._exponent_ic[word][exponents], out=best)
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


def _descendant_bits(ontology: Ontology, terms: Indices, words: int) -> Bits:
    """``(words, len(ontology))``: for every term, the bits of those of ``terms`` above it.

    Bit ``b`` stands for ``terms[b]``. Each (descendant, term) pair adds a
    distinct bit, so adding is OR-ing, in one call per word.
    """
    closure = ontology.descendant_closure
    starts = closure.indptr[terms].tolist()
    stops = closure.indptr[terms + 1].tolist()
    bits = np.zeros((words, len(ontology)), dtype=np.uint64)
    for word in range(words):
        first, last = word * WORD, min((word + 1) * WORD, len(terms))
        if first == last:
            continue
        spans = zip(starts[first:last], stops[first:last], strict=True)
        descendants = np.concatenate([closure.indices[start:stop] for start, stop in spans])
        sizes = np.subtract(stops[first:last], starts[first:last])
        values = np.repeat(_ONE << np.arange(last - first, dtype=np.uint64), sizes)
        np.add.at(bits[word], descendants, values)
    return bits


def _highest_bit_exponent(values: Bits, few_bits: bool) -> npt.NDArray[np.int64]:
    """The float64 exponent field of each value's highest bit: bias + k for bit k, 0 for 0.

    Converting to float64 rounds to 53 significant bits, which moves the
    exponent up only when the 53 bits from the highest one down are all set.
    With ``few_bits`` no value has more than 52 set bits, so the conversion is
    exact enough as it is; otherwise clearing the bit below every set bit
    keeps the highest bit ``k`` and leaves the value below ``1.5 * 2**k``,
    which cannot round up to ``2**(k + 1)``.
    """
    if not few_bits:
        values = values & ~(values >> _ONE)
    exponents: npt.NDArray[np.int64] = values.astype(np.float64).view(np.int64) >> _FRACTION_BITS
    return exponents
