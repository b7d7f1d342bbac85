"""GRCh37 -> GRCh38 liftover: known coordinate pairs, and the rules that refuse a lift."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mme_node.model import Variant
from mme_node.vocabulary.liftover import VariantLifter, bundled_chain_file

SHARED_LIFTOVER = Path(__file__).resolve().parents[2].parent / "shared" / "liftover"
"""The UCSC chain files the team keeps beside the project root (``../shared``)."""

# Published positions (1-based, as dbSNP/ClinVar give them) of well-known
# variants on both assemblies: not computed with the chain under test.
KNOWN_PAIRS = [
    # (name, chromosome, GRCh37 position, GRCh38 position, ref, alt)
    ("BRAF V600E", "7", 140453136, 140753336, "A", "T"),
    ("CFTR F508del", "7", 117199644, 117559590, "ATCT", "A"),
    ("TP53 R175H", "17", 7578406, 7675088, "C", "T"),
    ("HBB E6V (sickle)", "11", 5248232, 5227002, "T", "A"),
    ("KRAS G12D", "12", 25398284, 25245350, "C", "T"),
    ("EGFR L858R", "7", 55259515, 55191822, "T", "G"),
    ("MT-TL1 m.3243A>G", "MT", 3243, 3243, "A", "G"),
]


@pytest.fixture(scope="module")
def lifter() -> VariantLifter:
    return VariantLifter()


def grch37(chromosome: str, position: int, ref: str, alt: str) -> Variant:
    """A GRCh37 variant at a 1-based VCF position, in MME's 0-based coordinates."""
    return Variant("GRCh37", chromosome, position - 1, position - 1 + len(ref), ref, alt)


@pytest.mark.parametrize(
    ("chromosome", "position37", "position38", "ref", "alt"),
    [pair[1:] for pair in KNOWN_PAIRS],
    ids=[pair[0] for pair in KNOWN_PAIRS],
)
def test_known_variants_lift_to_their_published_grch38_positions(
    lifter: VariantLifter, chromosome: str, position37: int, position38: int, ref: str, alt: str
) -> None:
    lifted = lifter.lifted(grch37(chromosome, position37, ref, alt))
    assert lifted is not None
    assert lifted.assembly == "GRCh38"
    assert lifted.start == position38 - 1
    assert lifted.end == position38 - 1 + len(ref)
    assert (lifted.reference_bases, lifted.alternate_bases) == (ref, alt)


def test_the_lifted_allele_has_the_key_a_grch38_submitter_would_give_it(
    lifter: VariantLifter,
) -> None:
    submitted_on_38 = Variant("GRCh38", "chr7", 140753335, 140753336, "A", "T")
    with_lift = lifter.with_lift(grch37("7", 140453136, "A", "T"))
    assert submitted_on_38.key in with_lift.keys


def test_a_patch_release_of_grch37_is_lifted(lifter: VariantLifter) -> None:
    variant = Variant("GRCh37.p13", "17", 7578405, 7578406, "C", "T")
    lifted = lifter.lifted(variant)
    assert lifted is not None and lifted.start == 7675087


def test_a_variant_without_end_is_lifted_by_its_reference_length(lifter: VariantLifter) -> None:
    lifted = lifter.lifted(Variant("GRCh37", "7", 117199643, None, "ATCT", "A"))
    assert lifted is not None and (lifted.start, lifted.end) == (117559589, None)


@pytest.mark.parametrize(
    "variant",
    [
        Variant("GRCh38", "7", 140753335, 140753336, "A", "T"),
        Variant("NCBI36", "7", 140099605, 140099606, "A", "T"),
        Variant("GRCh37", "7", None, None, "A", "T"),
        Variant("GRCh37", "1", 299_999_999, 300_000_000, "A", "G"),
    ],
    ids=["already GRCh38", "NCBI36", "no start", "past the chromosome end"],
)
def test_variants_that_cannot_be_lifted_get_no_equivalent(
    lifter: VariantLifter, variant: Variant
) -> None:
    assert lifter.lifted(variant) is None
    assert lifter.with_lift(variant).keys == ((variant.key,) if variant.key else ())


def test_with_lift_replaces_a_stale_or_forged_equivalent(lifter: VariantLifter) -> None:
    forged = Variant("GRCh38", "7", 1, 2, "A", "T")
    variant = Variant("GRCh37", "1", 299_999_999, 300_000_000, "A", "G", lifted=forged)
    assert lifter.with_lift(variant).lifted is None


# ------------------------------------------------------------- the rules, on a chain of our own


def write_chain(path: Path) -> Path:
    """A hand-written chain: chr1 with a 10-base gap at 100-110, chr2 mapped to the minus strand.

    Source chr1 [0, 100) -> target [0, 100); source [110, 1000) -> target
    [100, 990). Source chr2 [0, 1000) -> target chr2 minus strand.
    """
    text = (
        "chain 1000 chr1 1000 + 0 1000 chr1 990 + 0 990 1\n"
        "100\t10\t0\n890\n\n"
        "chain 1000 chr2 1000 + 0 1000 chr2 1000 - 0 1000 2\n"
        "1000\n\n"
    )
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    return path


@pytest.fixture
def small_lifter(tmp_path: Path) -> VariantLifter:
    return VariantLifter(write_chain(tmp_path / "small.over.chain.gz"))


def test_positions_after_a_gap_shift_by_the_gap(small_lifter: VariantLifter) -> None:
    lifted = small_lifter.lifted(Variant("GRCh37", "1", 200, 201, "A", "G"))
    assert lifted is not None and (lifted.start, lifted.end) == (190, 191)


def test_an_allele_across_a_gap_is_not_lifted(small_lifter: VariantLifter) -> None:
    assert small_lifter.lifted(Variant("GRCh37", "1", 98, 103, "ACGTA", "A")) is None


def test_a_position_inside_a_gap_is_not_lifted(small_lifter: VariantLifter) -> None:
    assert small_lifter.lifted(Variant("GRCh37", "1", 105, 106, "A", "G")) is None


# Source chr2 [0, 1000) -> target chr2 [0, 1000) minus strand: source base p is target
# minus-strand base p, which is forward-strand base 1000 - 1 - p.


def test_a_minus_strand_substitution_lands_reversed_and_complemented(
    small_lifter: VariantLifter,
) -> None:
    lifted = small_lifter.lifted(Variant("GRCh37", "2", 10, 11, "A", "G"))
    assert lifted == Variant("GRCh38", "2", 989, 990, "T", "C")


def test_a_minus_strand_multi_base_allele_starts_where_its_last_base_lands(
    small_lifter: VariantLifter,
) -> None:
    # Source bases 10, 11, 12 -> target 989, 988, 987: the allele reads 987..989 on GRCh38.
    lifted = small_lifter.lifted(Variant("GRCh37", "2", 10, 13, "ACG", "TTA"))
    assert lifted == Variant("GRCh38", "2", 987, 990, "CGT", "TAA")


def test_a_minus_strand_delins_without_shared_edge_bases_is_lifted(
    small_lifter: VariantLifter,
) -> None:
    lifted = small_lifter.lifted(Variant("GRCh37", "2", 10, 12, "AC", "G"))
    assert lifted == Variant("GRCh38", "2", 988, 990, "GT", "C")


def test_a_minus_strand_position_without_bases_is_lifted(small_lifter: VariantLifter) -> None:
    lifted = small_lifter.lifted(Variant("GRCh37", "2", 20, 25))
    assert lifted == Variant("GRCh38", "2", 975, 980)


@pytest.mark.parametrize(
    ("reference", "alternate"),
    [("ACT", "A"), ("A", "AGG"), ("ACT", "GT")],
    ids=["anchored deletion", "anchored insertion", "shared last base"],
)
def test_a_minus_strand_indel_sharing_an_edge_base_is_not_lifted(
    small_lifter: VariantLifter, reference: str, alternate: str
) -> None:
    """Its anchor would end up last; re-anchoring needs GRCh38 bases the chain lacks."""
    variant = Variant("GRCh37", "2", 10, 10 + len(reference), reference, alternate)
    assert small_lifter.lifted(variant) is None


def test_a_minus_strand_symbolic_allele_is_not_lifted(small_lifter: VariantLifter) -> None:
    assert small_lifter.lifted(Variant("GRCh37", "2", 10, 11, "A", "<DEL>")) is None


def test_the_mitochondrion_maps_to_itself_without_the_chain(small_lifter: VariantLifter) -> None:
    lifted = small_lifter.lifted(Variant("GRCh37", "MT", 3242, 3243, "A", "G"))
    assert lifted == Variant("GRCh38", "M", 3242, 3243, "A", "G")


# ------------------------------------------------- a minus-strand block of the real UCSC chain

# hg19ToHg38.over.chain, chain id 158: one gapless block mapping hg19 chr21
# [10697896, 11188129) to hg38 chr21 (size 46709983) minus strand
# [35895423, 36385656): an inversion between the assemblies. By the chain
# format, hg19 base p is minus-strand base 35895423 + (p - 10697896), i.e.
# forward-strand base 46709983 - 1 - 35895423 - (p - 10697896) = 10814559 - (p - 10697896).
CHAIN_158 = (
    "chain 46368587 chr21 48129895 + 10697896 11188129 chr21 46709983 - 35895423 36385656 158"
)


def hg38_forward(hg19_position: int) -> int:
    return 46709983 - 1 - (35895423 + (hg19_position - 10697896))


def test_the_bundled_chain_holds_the_block_worked_by_hand() -> None:
    with gzip.open(bundled_chain_file(), "rt") as chain:
        lines = chain.read().splitlines()
    at = lines.index(CHAIN_158)
    assert lines[at + 1] == "490233"  # one block, 11188129 - 10697896 bases, no gaps
    assert hg38_forward(10697896) == 10814559 and hg38_forward(11188128) == 10324327


@pytest.mark.parametrize(
    ("start", "reference", "alternate", "lifted_reference", "lifted_alternate"),
    [
        (10_700_000, "A", "G", "T", "C"),
        (10_800_000, "ACG", "TTA", "CGT", "TAA"),
        (11_188_128, "C", "T", "G", "A"),  # the block's last base
    ],
    ids=["SNV", "MNV", "last base of the block"],
)
def test_variants_in_an_inverted_region_lift_by_the_chain_arithmetic(
    lifter: VariantLifter,
    start: int,
    reference: str,
    alternate: str,
    lifted_reference: str,
    lifted_alternate: str,
) -> None:
    end = start + len(reference)
    lifted = lifter.lifted(Variant("GRCh37", "21", start, end, reference, alternate))
    expected_start = hg38_forward(end - 1)  # the allele's last hg19 base comes first on hg38
    assert lifted == Variant(
        "GRCh38",
        "21",
        expected_start,
        expected_start + len(reference),
        lifted_reference,
        lifted_alternate,
    )


def test_an_inverted_region_variant_has_the_key_a_grch38_submitter_would_give_it(
    lifter: VariantLifter,
) -> None:
    # hg19 chr21:10700001 A>G (1-based) is hg38 chr21:10812456 T>C, 10814559 - 2104 (0-based).
    submitted_on_38 = Variant("GRCh38", "21", 10_812_455, 10_812_456, "T", "C")
    with_lift = lifter.with_lift(Variant("GRCh37", "21", 10_700_000, 10_700_001, "A", "G"))
    assert submitted_on_38.key in with_lift.keys


def test_the_reverse_chain_takes_the_inverted_region_back() -> None:
    """The UCSC hg38ToHg19 chain, a separate file, maps the hand-computed position back."""
    from liftover import ChainFile

    back = ChainFile(str(SHARED_LIFTOVER / "hg38ToHg19.over.chain.gz"), "hg38", "hg19")
    assert back["chr21"][hg38_forward(10_700_000)] == [("chr21", 10_700_000, "-")]
