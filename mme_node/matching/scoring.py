"""How the parts of a match combine into one score in [0, 1].

``score = sum(weight_i * part_i) / sum(weight_i)`` over the parts the *query*
has: phenotype (if it has observed terms), gene (if it has genes), variant
(if it has complete variants) and disorder (if it has disorders). Each part
lies in [0, 1], so the score does too, and a query that only has phenotypes
is ranked by phenotype alone. A candidate that lacks a part scores 0 on it.

The phenotype part comes from the scorer that ``phenotype_model`` names
(see :mod:`.phenotype`): the learned model by default, or ``blend``, whose
constants (``method``, ``exact_terms``, ``exclusion_penalty``) are kept here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hpo import Method
from mme_node.errors import MMEError
from mme_node.matching.phenotype import (
    BLEND,
    DEFAULT_MODEL,
    BlendScorer,
    PhenotypeScorer,
    load_model,
)
from mme_node.settings import Settings

Scores = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """The tunable constants of matching (defaults chosen on the development set)."""

    method: Method = Method.RESNIK
    phenotype: float = 1.0
    gene: float = 1.0
    variant: float = 0.25
    disorder: float = 0.25
    exclusion_penalty: float = 0.99
    exact_terms: float = 0.5
    phenotype_model: str = DEFAULT_MODEL

    def phenotype_scorer(self) -> PhenotypeScorer:
        """The scorer ``phenotype_model`` names (:class:`MMEError` if there is none)."""
        if self.phenotype_model == BLEND:
            return BlendScorer(self.method, self.exact_terms, self.exclusion_penalty)
        return load_model(self.phenotype_model)

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoringWeights:
        try:
            method = Method(settings.match_method)
        except ValueError:
            names = ", ".join(m.value for m in Method)
            raise MMEError(f"setting match_method must be one of {names}") from None
        weights = cls(
            method=method,
            phenotype=settings.weight_phenotype,
            gene=settings.weight_gene,
            variant=settings.weight_variant,
            disorder=settings.weight_disorder,
            exclusion_penalty=settings.exclusion_penalty,
            exact_terms=settings.weight_exact_terms,
            phenotype_model=settings.phenotype_model,
        )
        if min(weights.phenotype, weights.gene, weights.variant, weights.disorder) < 0:
            raise MMEError("match weights must not be negative")
        if not 0 <= weights.exclusion_penalty <= 1:
            raise MMEError("setting exclusion_penalty must lie between 0 and 1")
        if not 0 <= weights.exact_terms <= 1:
            raise MMEError("setting weight_exact_terms must lie between 0 and 1")
        weights.phenotype_scorer()  # an unknown or broken model fails at start-up
        return weights


@dataclass(frozen=True, slots=True)
class QueryParts:
    """Which parts a query has, so that absent parts do not dilute the score."""

    phenotype: bool
    gene: bool
    variant: bool
    disorder: bool


def combine(
    weights: ScoringWeights,
    parts: QueryParts,
    phenotype: Scores,
    gene: Scores,
    variant: Scores,
    disorder: Scores,
) -> Scores:
    """The combined score of every candidate (see the module docstring)."""
    total = np.zeros_like(phenotype)
    weight_sum = 0.0
    for present, weight, values in (
        (parts.phenotype, weights.phenotype, phenotype),
        (parts.gene, weights.gene, gene),
        (parts.variant, weights.variant, variant),
        (parts.disorder, weights.disorder, disorder),
    ):
        if present and weight > 0:
            total += weight * values
            weight_sum += weight
    if weight_sum == 0:
        return total
    return np.clip(total / weight_sum, 0.0, 1.0)


def genotype_part(
    weights: ScoringWeights, parts: QueryParts, gene: Scores, variant: Scores
) -> Scores:
    """The genotype share of a score on its own (genes and variants), in [0, 1]."""
    weight = (weights.gene if parts.gene else 0.0) + (weights.variant if parts.variant else 0.0)
    if weight == 0:
        return np.zeros_like(gene)
    combined = (weights.gene * gene if parts.gene else 0) + (
        weights.variant * variant if parts.variant else 0
    )
    return np.asarray(combined / weight, dtype=np.float64)
