"""Term weights for candidate retrieval: ancestor closures with information content."""

from __future__ import annotations

from collections.abc import Sequence

from hpo import Release


class ReleaseTermWeights:
    """The ancestor closure of terms with each term's IC, from one HPO release.

    Satisfies the Elasticsearch store's ``TermWeights``: the store indexes a
    patient's closure and weights query terms by IC, so that its candidate
    score approximates the Resnik similarity the matcher computes exactly.
    """

    def __init__(self, release: Release) -> None:
        self._ontology = release.ontology
        self._ic = release.information_content.values

    def closure(self, term_ids: Sequence[str]) -> dict[str, float]:
        known = [term for term in term_ids if term in self._ontology]
        weights: dict[str, float] = {}
        for term in known:
            for index in self._ontology.ancestors(term):
                weights[self._ontology.term_id(int(index))] = float(self._ic[index])
        return weights
