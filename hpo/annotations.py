"""Disease annotations (``phenotype.hpoa``) counted per term, propagated to ancestors.

The counts feed the annotation-based information content: for each term,
how many distinct diseases are annotated to it or to one of its descendants.
Rows qualified ``NOT`` are excluded; alternative and obsolete ids are mapped
with :meth:`Ontology.resolve`; rows naming terms the ontology cannot resolve
are counted and skipped rather than failing the whole release.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hpo._csr import expand
from hpo._files import iter_lines
from hpo.errors import HPOError, ReleaseError
from hpo.ontology import Ontology

REQUIRED_COLUMNS = ("database_id", "qualifier", "hpo_id")


@dataclass(frozen=True)
class DiseaseAnnotations:
    """Per-term disease counts of one annotation file.

    ``term_diseases[i]`` is the number of diseases annotated to term ``i``
    or a descendant; ``disease_count`` is the number of diseases with at
    least one usable annotation (the denominator of the IC).
    """

    version: str
    term_diseases: npt.NDArray[np.int64]
    disease_count: int
    annotation_count: int
    negated_count: int
    remapped_count: int
    unresolved_count: int
    unresolved_terms: tuple[str, ...]


def read_annotations(
    path: Path, ontology: Ontology, progress: Callable[[int], None] | None = None
) -> DiseaseAnnotations:
    """Count the diseases of ``phenotype.hpoa`` (plain or compressed) per term.

    Raises :class:`ReleaseError` when the file is missing, lacks the header
    row, or has a row with the wrong number of columns (a truncated file).
    ``progress`` receives the number of rows read so far.
    """
    if not path.is_file():
        raise ReleaseError(f"annotation file not found: {path}")
    version = ""
    columns: dict[str, int] = {}
    width = 0
    diseases: dict[str, int] = {}
    resolved: dict[str, int | None] = {}
    pairs: list[int] = []
    counts = {"annotations": 0, "negated": 0, "remapped": 0, "unresolved": 0}
    unresolved: set[str] = set()
    for number, line in enumerate(iter_lines(path), start=1):
        if progress is not None and number % 50_000 == 0:
            progress(number)
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#version:"):
                version = line.partition(":")[2].strip()
            continue
        fields = line.split("\t")
        if not columns:
            columns = {name: i for i, name in enumerate(fields)}
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise ReleaseError(
                    f"{path.name} is not a phenotype.hpoa file: no column {', '.join(missing)}"
                )
            width = len(fields)
            continue
        if len(fields) != width:
            raise ReleaseError(
                f"{path.name} line {number} has {len(fields)} columns instead of {width}; "
                "the file is damaged or truncated"
            )
        if fields[columns["qualifier"]].strip().upper() == "NOT":
            counts["negated"] += 1
            continue
        raw_id = fields[columns["hpo_id"]]
        if raw_id not in resolved:
            resolved[raw_id] = _resolve(ontology, raw_id)
        term = resolved[raw_id]
        if term is None:
            counts["unresolved"] += 1
            unresolved.add(raw_id)
            continue
        if ontology.term_id(term) != raw_id:
            counts["remapped"] += 1
        disease = diseases.setdefault(fields[columns["database_id"]], len(diseases))
        pairs.append(disease * len(ontology) + term)
        counts["annotations"] += 1
    if not columns:
        raise ReleaseError(f"{path.name} has no header row: is it empty or truncated?")
    return DiseaseAnnotations(
        version=version,
        term_diseases=_propagated_counts(ontology, np.asarray(pairs, dtype=np.int64)),
        disease_count=len(diseases),
        annotation_count=counts["annotations"],
        negated_count=counts["negated"],
        remapped_count=counts["remapped"],
        unresolved_count=counts["unresolved"],
        unresolved_terms=tuple(sorted(unresolved)),
    )


def _resolve(ontology: Ontology, term_id: str) -> int | None:
    try:
        return ontology.index_of(ontology.resolve(term_id))
    except HPOError:
        return None


def _propagated_counts(ontology: Ontology, pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Distinct diseases per term after adding every annotation's ancestors."""
    terms = len(ontology)
    direct = np.unique(pairs)
    disease, term = np.divmod(direct, terms)
    owner, ancestor = expand(ontology.ancestor_closure, term)
    closed = np.unique(disease[owner] * terms + ancestor)
    return np.bincount(closed % terms, minlength=terms).astype(np.int64)
