"""Information content (IC) of every term, in nats.

Annotation-based (the default when ``phenotype.hpoa`` is available)::

    IC(t) = -ln( max(n(t), 1) / N )

where ``n(t)`` is the number of diseases annotated (not ``NOT``-qualified)
to ``t`` or to any descendant of ``t``, and ``N`` the number of diseases with
at least one annotation. A term no disease is annotated to counts as if one
disease were: it gets the largest IC, ``ln N``, equal to that of the rarest
annotated terms, so that specific but still unannotated terms stay
informative and IC never decreases from a parent to a child.

Structure-based fallback (no annotation file), the intrinsic IC of Seco et
al. (2004) expressed in nats::

    IC(t) = -ln( |descendants(t) including t| / |terms| )

Both give ``IC(root) = 0`` and grow towards the leaves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from hpo.annotations import DiseaseAnnotations
from hpo.ontology import Ontology


class ICSource(StrEnum):
    """Where the information content of a release comes from."""

    ANNOTATIONS = "annotations"
    STRUCTURE = "structure"


@dataclass(frozen=True)
class InformationContent:
    """One IC value per ontology index, and how it was computed."""

    values: npt.NDArray[np.float64]
    source: ICSource

    def __getitem__(self, index: int) -> float:
        return float(self.values[index])

    def __len__(self) -> int:
        return len(self.values)


def annotation_ic(annotations: DiseaseAnnotations) -> InformationContent:
    """IC from disease annotation frequencies (see the module docstring)."""
    total = max(annotations.disease_count, 1)
    counts = np.maximum(annotations.term_diseases, 1).astype(np.float64)
    values = np.maximum(-np.log(counts / total), 0.0)
    return InformationContent(values, ICSource.ANNOTATIONS)


def structural_ic(ontology: Ontology) -> InformationContent:
    """Seco's intrinsic IC from descendant counts (see the module docstring)."""
    sizes = ontology.descendant_closure.lengths().astype(np.float64)
    values = np.maximum(-np.log(sizes / len(ontology)), 0.0)
    return InformationContent(values, ICSource.STRUCTURE)


def with_structural_ic(
    ic: InformationContent, ontology: Ontology, terms: Iterable[int]
) -> InformationContent:
    """``ic`` where ``terms`` get the structural IC instead, never below an ancestor's.

    For a release that borrows the annotations of an older one: its new terms
    are unknown to those annotations, so their frequency says nothing; their
    place in the hierarchy does. Raising a term to its ancestors' IC keeps IC
    non-decreasing from parent to child.
    """
    structural = structural_ic(ontology).values
    values = ic.values.copy()
    chosen = sorted(terms, key=lambda term: len(ontology.ancestors(term)))  # parents first
    for term in chosen:
        ancestors = ontology.ancestors(term)
        above = values[ancestors[ancestors != term]]
        values[term] = max(float(structural[term]), float(above.max(initial=0.0)))
    return InformationContent(values, ic.source)
