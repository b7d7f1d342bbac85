"""Combining phenotype, gene, variant and disorder parts into one score in [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest

from hpo import Method
from mme_node.errors import MMEError
from mme_node.matching.scoring import QueryParts, ScoringWeights, combine, genotype_part
from mme_node.settings import load_settings

ALL_PARTS = QueryParts(phenotype=True, gene=True, variant=True, disorder=True)
PHENOTYPE = np.array([0.8, 0.2, 0.0, 1.0])
GENE = np.array([1.0, 0.0, 1.0, 1.0])
VARIANT = np.array([1.0, 0.0, 0.0, 1.0])
DISORDER = np.array([0.0, 0.0, 1.0, 1.0])


def test_combined_score_is_the_weighted_mean_of_the_query_parts() -> None:
    weights = ScoringWeights(phenotype=1.0, gene=1.0, variant=0.25, disorder=0.25)
    score = combine(weights, ALL_PARTS, PHENOTYPE, GENE, VARIANT, DISORDER)
    expected = (PHENOTYPE + GENE + 0.25 * VARIANT + 0.25 * DISORDER) / 2.5
    assert score == pytest.approx(expected)


def test_parts_the_query_lacks_do_not_dilute_the_score() -> None:
    phenotype_only = QueryParts(phenotype=True, gene=False, variant=False, disorder=False)
    score = combine(ScoringWeights(), phenotype_only, PHENOTYPE, GENE, VARIANT, DISORDER)
    assert score == pytest.approx(PHENOTYPE)


def test_gene_only_query_scores_shared_gene_one() -> None:
    gene_only = QueryParts(phenotype=False, gene=True, variant=False, disorder=False)
    score = combine(ScoringWeights(), gene_only, PHENOTYPE, GENE, VARIANT, DISORDER)
    assert score == pytest.approx(GENE)


def test_a_zero_weight_switches_a_part_off() -> None:
    weights = ScoringWeights(gene=0.0)
    with_gene = QueryParts(phenotype=True, gene=True, variant=False, disorder=False)
    score = combine(weights, with_gene, PHENOTYPE, GENE, VARIANT, DISORDER)
    assert score == pytest.approx(PHENOTYPE)


def test_no_weighted_part_scores_zero() -> None:
    nothing = QueryParts(phenotype=False, gene=False, variant=False, disorder=False)
    score = combine(ScoringWeights(), nothing, PHENOTYPE, GENE, VARIANT, DISORDER)
    assert score == pytest.approx(np.zeros(4))


def test_perfect_candidate_scores_exactly_one() -> None:
    ones = np.ones(3)
    assert combine(ScoringWeights(), ALL_PARTS, ones, ones, ones, ones) == pytest.approx(ones)


def test_genotype_part_weighs_gene_and_variant() -> None:
    part = genotype_part(ScoringWeights(gene=1.0, variant=0.25), ALL_PARTS, GENE, VARIANT)
    assert part == pytest.approx((GENE + 0.25 * VARIANT) / 1.25)


def test_genotype_part_is_zero_for_a_phenotype_only_query() -> None:
    phenotype_only = QueryParts(phenotype=True, gene=False, variant=False, disorder=False)
    assert genotype_part(ScoringWeights(), phenotype_only, GENE, VARIANT) == pytest.approx(
        np.zeros(4)
    )


def test_weights_come_from_settings() -> None:
    settings = load_settings(
        environ={
            "MME_MATCH_METHOD": "simgic",
            "MME_WEIGHT_GENE": "2",
            "MME_WEIGHT_VARIANT": "0.5",
            "MME_EXCLUSION_PENALTY": "0.5",
        }
    )
    weights = ScoringWeights.from_settings(settings)
    assert (weights.method, weights.gene, weights.variant, weights.exclusion_penalty) == (
        Method.SIMGIC,
        2.0,
        0.5,
        0.5,
    )


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("MME_MATCH_METHOD", "cosine", "match_method"),
        ("MME_WEIGHT_GENE", "-1", "weights"),
        ("MME_EXCLUSION_PENALTY", "1.5", "exclusion_penalty"),
        ("MME_EXCLUSION_PENALTY", "-0.1", "exclusion_penalty"),
    ],
)
def test_bad_weight_settings_are_refused_naming_the_setting(
    variable: str, value: str, named: str
) -> None:
    with pytest.raises(MMEError, match=named):
        ScoringWeights.from_settings(load_settings(environ={variable: value}))
