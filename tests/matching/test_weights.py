"""Retrieval term weights: a patient's ancestor closure, each term weighted by its IC."""

from __future__ import annotations

import pytest

from hpo import Release
from mme_node.matching.weights import ReleaseTermWeights

TONIC_CLONIC_SEIZURE = "HP:0002069"
AUTISM = "HP:0000717"


def test_closure_holds_every_ancestor_with_its_information_content(
    bundled_release: Release,
) -> None:
    ontology = bundled_release.ontology
    ic = bundled_release.information_content
    closure = ReleaseTermWeights(bundled_release).closure([TONIC_CLONIC_SEIZURE, AUTISM])
    expected = set(ontology.ancestor_ids(TONIC_CLONIC_SEIZURE)) | set(ontology.ancestor_ids(AUTISM))
    assert set(closure) == expected
    for term, weight in closure.items():
        assert weight == pytest.approx(ic[ontology.index_of(term)])
    assert {"HP:0001250", "HP:0000118", "HP:0000001"} <= set(closure)


def test_terms_unknown_to_the_release_add_nothing(bundled_release: Release) -> None:
    weights = ReleaseTermWeights(bundled_release)
    assert weights.closure(["HP:9999999"]) == {}
    assert weights.closure([AUTISM, "HP:9999999"]) == weights.closure([AUTISM])
