"""GRCh37 -> GRCh38 liftover of variants, so that the two assemblies match at variant level.

A variant's key names its assembly, so the same allele submitted on GRCh37
by one clinic and on GRCh38 by another used to match at gene level only.
:class:`VariantLifter` gives each GRCh37 variant its GRCh38 equivalent,
which the model keeps beside it (``Variant.lifted``) and whose key joins the
patient's variant keys: both assemblies meet on GRCh38 coordinates.

Lifting happens once, when a patient is normalised (submitted, imported,
re-normalised, or a peer's query), never per candidate of a match. The
rules, chosen to never invent an allele:

* GRCh37 (any patch) only: GRCh38 is already the meeting point, and NCBI36
  is too rare in the MME to carry a chain for.
* The mitochondrion maps to itself: GRCh37's ``MT`` and GRCh38's ``chrM``
  are both the rCRS (UCSC's hg19 ``chrM`` is not, so its chain is not used).
* The allele's first and last bases must each map to exactly one place, on
  the same primary chromosome and strand, the same distance apart; otherwise
  there is no lift and the variant matches as before.
* On a minus-strand chain block (an inversion between the assemblies) the
  allele reads backwards on GRCh38: its first GRCh37 base lands on the last
  GRCh38 one, so the lifted start is where the last base lands, and the bases
  are reverse-complemented. A VCF-style indel whose alleles share their first
  base (the anchor) would end with it instead, and moving the anchor to the
  left needs the GRCh38 base before the allele, which a chain does not hold:
  such an indel is not lifted. Substitutions (alleles of equal length) and
  indels sharing neither their first nor their last base are.
* Bases are otherwise carried over unchanged: a chain says where, not what,
  so a reference base that changed between the assemblies is not detected.

The UCSC chain file is bundled (``mme_node/data/liftover``, with its terms)
and read on first use (about 80 ms), with the ``liftover`` package.
"""

from __future__ import annotations

import dataclasses
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from liftover import ChainFile

from mme_node.model import Variant, canonical_reference_name

SOURCE_ASSEMBLY = "GRCh37"
TARGET_ASSEMBLY = "GRCh38"
_PRIMARY_CHROMOSOMES = frozenset([str(n) for n in range(1, 23)] + ["X", "Y"])


def bundled_chain_file() -> Path:
    """The bundled UCSC ``hg19ToHg38.over.chain.gz``."""
    return Path(str(resources.files("mme_node") / "data" / "liftover" / "hg19ToHg38.over.chain.gz"))


class VariantLifter:
    """Lifts GRCh37 variants to GRCh38 (see the module docstring); thread-safe."""

    def __init__(self, chain_file: Path | None = None) -> None:
        self._chain_file = chain_file or bundled_chain_file()
        self._chain: Any = None
        self._lock = threading.Lock()

    def lifted(self, variant: Variant) -> Variant | None:
        """The GRCh38 equivalent of a GRCh37 ``variant``, or None when there is none."""
        if variant.assembly.split(".")[0] != SOURCE_ASSEMBLY or variant.start is None:
            return None
        chromosome = canonical_reference_name(variant.reference_name)
        length = _length(variant)
        if chromosome == "M":
            placed: tuple[int, str] | None = (variant.start, "+")
        elif chromosome not in _PRIMARY_CHROMOSOMES:
            return None
        else:
            placed = self._lifted_start(chromosome, variant.start, length)
        if placed is None:
            return None
        start, strand = placed
        reference, alternate = variant.reference_bases, variant.alternate_bases
        if strand == "-":
            if not _reversible(reference, alternate):
                return None
            reference, alternate = _reverse_complement(reference), _reverse_complement(alternate)
        return Variant(
            assembly=TARGET_ASSEMBLY,
            reference_name=chromosome,
            start=start,
            end=None if variant.end is None else start + (variant.end - variant.start),
            reference_bases=reference,
            alternate_bases=alternate,
        )

    def with_lift(self, variant: Variant) -> Variant:
        """``variant`` with ``lifted`` set to its GRCh38 equivalent (or cleared when none)."""
        lifted = self.lifted(dataclasses.replace(variant, lifted=None))
        return variant if lifted == variant.lifted else dataclasses.replace(variant, lifted=lifted)

    def _lifted_start(self, chromosome: str, start: int, length: int) -> tuple[int, str] | None:
        """The GRCh38 start of ``length`` bases from ``start``, and the strand they map to."""
        first = self._position(chromosome, start)
        last = self._position(chromosome, start + length - 1)
        if first is None or last is None or first[1] != last[1]:
            return None
        (first_position, strand), last_position = first, last[0]
        if strand == "+" and last_position - first_position == length - 1:
            return first_position, strand
        if strand == "-" and first_position - last_position == length - 1:
            return last_position, strand
        return None

    def _position(self, chromosome: str, position: int) -> tuple[int, str] | None:
        """The single GRCh38 position (forward-strand, 0-based) of a 0-based GRCh37 one.

        With the strand of the chain block it lies in; None when the position
        maps nowhere, to several places, or off ``chromosome``.
        """
        hits = self._chains()["chr" + chromosome][position]
        if len(hits) != 1:
            return None
        target, target_position, strand = hits[0]
        if strand not in ("+", "-") or canonical_reference_name(target) != chromosome:
            return None
        return int(target_position), strand

    def _chains(self) -> Any:
        with self._lock:
            if self._chain is None:
                self._chain = ChainFile(str(self._chain_file), "hg19", "hg38")
            return self._chain


_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_BASES = frozenset("ACGTNacgtn")


def _reversible(reference: str | None, alternate: str | None) -> bool:
    """Whether the reverse complement of these alleles describes the same change exactly.

    Plain bases only; and not an indel with a shared edge base, whose anchor
    would end up on the wrong side (see the module docstring).
    """
    alleles = [allele for allele in (reference, alternate) if allele]
    if any(not set(allele) <= _BASES for allele in alleles):
        return False
    if reference and alternate and len(reference) != len(alternate):
        return reference[0] != alternate[0] and reference[-1] != alternate[-1]
    return True


def _reverse_complement(bases: str | None) -> str | None:
    return None if bases is None else bases.translate(_COMPLEMENT)[::-1]


def _length(variant: Variant) -> int:
    """Bases the allele covers: ``end - start``, else the reference bases, else one."""
    assert variant.start is not None
    if variant.end is not None and variant.end > variant.start:
        return variant.end - variant.start
    return len(variant.reference_bases or "N")
