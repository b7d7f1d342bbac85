"""GRCh37 -> GRCh38 liftover: known coordinate pairs, and the rules that refuse a lift."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mme_node.model import Variant
from mme_node.vocabulary.liftover import VariantLifter

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


def test_a_minus_strand_mapping_is_not_lifted(small_lifter: VariantLifter) -> None:
    """The bases would need reverse-complementing and re-anchoring: no lift rather than a guess."""
    assert small_lifter.lifted(Variant("GRCh37", "2", 10, 11, "A", "G")) is None


def test_the_mitochondrion_maps_to_itself_without_the_chain(small_lifter: VariantLifter) -> None:
    lifted = small_lifter.lifted(Variant("GRCh37", "MT", 3242, 3243, "A", "G"))
    assert lifted == Variant("GRCh38", "M", 3242, 3243, "A", "G")
