"""Disease annotations (``phenotype.hpoa``) counted per term, propagated to ancestors.

The counts feed the annotation-based information content: for each term,
how many distinct diseases are annotated to it or to one of its descendants.
Rows qualified ``NOT`` are excluded; alternative and obsolete ids are mapped
with :meth:`Ontology.resolve`; rows naming terms the ontology cannot resolve
are counted and skipped rather than failing the whole release.
"""

from __future__ import annotations

from collections.abc import Callable, Container
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
class AnnotationRows:
    """The usable rows of an annotation file, as written: which disease names which term id.

    ``NOT`` rows are left out. Kept with a compiled release (see
    :mod:`hpo._compiled`) so that a later release shipped without annotations
    can count them again against its own ontology.
    """

    version: str
    term_ids: tuple[str, ...]
    """The distinct term ids the rows name, as written in the file."""
    diseases: npt.NDArray[np.int32]
    """Per row: the disease's number (0 .. number of distinct diseases - 1)."""
    terms: npt.NDArray[np.int32]
    """Per row: the index of its term id in ``term_ids``."""
    negated_count: int = 0


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
    rows: AnnotationRows | None = None


def read_annotations(
    path: Path,
    ontology: Ontology,
    progress: Callable[[int], None] | None = None,
    *,
    without_diseases: Container[str] = frozenset(),
) -> DiseaseAnnotations:
    """Count the diseases of ``phenotype.hpoa`` (plain or compressed) per term.

    Raises :class:`ReleaseError` when the file is missing, lacks the header
    row, or has a row with the wrong number of columns (a truncated file).
    ``progress`` receives the number of rows read so far. Rows of the
    diseases in ``without_diseases`` (``database_id`` values) are skipped, as
    if the file did not know them: how an evaluation measures what the
    annotations say about a disease that is not yet annotated.
    """
    rows = read_annotation_rows(path, progress, without_diseases=without_diseases)
    return count_annotations(rows, ontology)


def read_annotation_rows(
    path: Path,
    progress: Callable[[int], None] | None = None,
    *,
    without_diseases: Container[str] = frozenset(),
) -> AnnotationRows:
    """The usable rows of ``phenotype.hpoa`` (see :func:`read_annotations` for errors)."""
    if not path.is_file():
        raise ReleaseError(f"annotation file not found: {path}")
    version = ""
    columns: dict[str, int] = {}
    width = 0
    diseases: dict[str, int] = {}
    term_ids: dict[str, int] = {}
    disease_column: list[int] = []
    term_column: list[int] = []
    negated = 0
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
        if fields[columns["database_id"]] in without_diseases:
            continue
        if fields[columns["qualifier"]].strip().upper() == "NOT":
            negated += 1
            continue
        disease_column.append(diseases.setdefault(fields[columns["database_id"]], len(diseases)))
        term_column.append(term_ids.setdefault(fields[columns["hpo_id"]], len(term_ids)))
    if not columns:
        raise ReleaseError(f"{path.name} has no header row: is it empty or truncated?")
    return AnnotationRows(
        version=version,
        term_ids=tuple(term_ids),
        diseases=np.asarray(disease_column, dtype=np.int32),
        terms=np.asarray(term_column, dtype=np.int32),
        negated_count=negated,
    )


def count_annotations(rows: AnnotationRows, ontology: Ontology) -> DiseaseAnnotations:
    """The per-term disease counts of ``rows`` in ``ontology``.

    Alternative and obsolete ids are mapped with :meth:`Ontology.resolve`;
    rows naming a term the ontology cannot resolve are counted and skipped.
    """
    resolved = np.array([_resolve(ontology, term_id) for term_id in rows.term_ids] or [0])
    remapped = np.array(
        [
            index >= 0 and ontology.term_id(int(index)) != term_id
            for term_id, index in zip(rows.term_ids, resolved, strict=False)
        ]
        or [False]
    )
    row_terms = resolved[rows.terms]
    usable = row_terms >= 0
    unresolved = sorted({rows.term_ids[i] for i in np.unique(rows.terms[~usable])})
    diseases = rows.diseases[usable].astype(np.int64)
    pairs = diseases * len(ontology) + row_terms[usable]
    return DiseaseAnnotations(
        version=rows.version,
        term_diseases=_propagated_counts(ontology, pairs),
        disease_count=len(np.unique(diseases)),
        annotation_count=int(usable.sum()),
        negated_count=rows.negated_count,
        remapped_count=int(remapped[rows.terms[usable]].sum()),
        unresolved_count=int((~usable).sum()),
        unresolved_terms=tuple(unresolved),
        rows=rows,
    )


def _resolve(ontology: Ontology, term_id: str) -> int:
    """The term's index, or -1 when the ontology cannot resolve it."""
    try:
        return ontology.index_of(ontology.resolve(term_id))
    except HPOError:
        return -1


def _propagated_counts(ontology: Ontology, pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Distinct diseases per term after adding every annotation's ancestors."""
    terms = len(ontology)
    direct = np.unique(pairs)
    disease, term = np.divmod(direct, terms)
    owner, ancestor = expand(ontology.ancestor_closure, term)
    closed = np.unique(disease[owner] * terms + ancestor)
    return np.bincount(closed % terms, minlength=terms).astype(np.int64)
