"""The on-disk form of a compiled release: one directory, three files.

``arrays.npz`` (uncompressed numpy arrays, no pickles) holds the hierarchy
and the information content, ``terms.json`` the strings (ids, names,
definitions, synonyms, alternative and obsolete ids), ``manifest.json`` the
:class:`~hpo.release.ReleaseInfo` fields. The manifest is written last: a
directory without one is incomplete and is never read.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hpo._csr import Csr
from hpo.annotations import AnnotationRows
from hpo.errors import ReleaseError
from hpo.information import ICSource, InformationContent
from hpo.ontology import ObsoleteTerm, Ontology

FORMAT = 1
"""Bumped whenever the layout or the meaning of a compiled file changes."""

MANIFEST = "manifest.json"
_ARRAYS = "arrays.npz"
_TERMS = "terms.json"
_ANNOTATIONS = "annotations.npz"
"""Optional: the annotation rows a release was compiled from, for releases without any."""


def write_compiled(
    directory: Path,
    ontology: Ontology,
    ic: InformationContent,
    manifest: dict[str, Any],
    annotation_rows: AnnotationRows | None = None,
) -> None:
    """Write a compiled release into the (new, empty) ``directory``.

    ``annotation_rows`` (the rows of the release's own annotation file) are
    kept for releases compiled later without annotations.
    """
    directory.mkdir(parents=True)
    if annotation_rows is not None:
        write_annotation_rows(directory, annotation_rows)
    with (directory / _ARRAYS).open("wb") as handle:
        np.savez(
            handle,
            parent_indptr=ontology.parents.indptr,
            parent_indices=ontology.parents.indices,
            ancestor_indptr=ontology.ancestor_closure.indptr,
            ancestor_indices=ontology.ancestor_closure.indices,
            information_content=ic.values,
        )
        os.fsync(handle.fileno())
    terms = {
        "version": ontology.version,
        "ids": ontology.ids,
        "names": ontology.names,
        "definitions": ontology.definitions,
        "synonyms": ontology.synonym_lists,
        "alt_ids": dict(ontology.alt_ids),
        "obsolete": {
            term: [list(o.replaced_by), list(o.consider)] for term, o in ontology.obsolete.items()
        },
    }
    _write_json(directory / _TERMS, terms)
    _write_json(directory / MANIFEST, {"format": FORMAT, "ic_source": ic.source.value, **manifest})


def write_annotation_rows(directory: Path, rows: AnnotationRows) -> None:
    """Keep ``rows`` with the compiled release (before its manifest is written)."""
    with (directory / _ANNOTATIONS).open("wb") as handle:
        np.savez(
            handle,
            term_ids=np.array(rows.term_ids, dtype=str),
            diseases=rows.diseases,
            terms=rows.terms,
            version=np.array(rows.version, dtype=str),
            negated_count=np.array(rows.negated_count),
        )
        os.fsync(handle.fileno())


def has_annotation_rows(directory: Path) -> bool:
    return (directory / _ANNOTATIONS).is_file()


def read_annotation_rows(directory: Path) -> AnnotationRows | None:
    """The annotation rows kept with a compiled release; None if it has none."""
    path = directory / _ANNOTATIONS
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return AnnotationRows(
                version=str(arrays["version"]),
                term_ids=tuple(str(term) for term in arrays["term_ids"]),
                diseases=arrays["diseases"],
                terms=arrays["terms"],
                negated_count=int(arrays["negated_count"]),
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ReleaseError(
            f"annotations of compiled release {directory.name} are damaged"
        ) from error


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a compiled release; :class:`ReleaseError` if absent or unreadable."""
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise ReleaseError(f"compiled release {directory.name} is missing or damaged") from error
    if manifest.get("format") != FORMAT:
        raise ReleaseError(f"compiled release {directory.name} has an outdated format")
    return manifest


def read_compiled(directory: Path) -> tuple[Ontology, InformationContent, dict[str, Any]]:
    """Load a compiled release written by :func:`write_compiled`."""
    manifest = read_manifest(directory)
    try:
        terms = json.loads((directory / _TERMS).read_text("utf-8"))
        with np.load(directory / _ARRAYS, allow_pickle=False) as arrays:
            parents = Csr(arrays["parent_indptr"], arrays["parent_indices"])
            ancestors = Csr(arrays["ancestor_indptr"], arrays["ancestor_indices"])
            values = arrays["information_content"]
        ontology = Ontology(
            version=terms["version"],
            ids=terms["ids"],
            names=terms["names"],
            definitions=terms["definitions"],
            synonyms=[tuple(row) for row in terms["synonyms"]],
            parents=parents,
            ancestors=ancestors,
            alt_ids=terms["alt_ids"],
            obsolete={
                term: ObsoleteTerm(tuple(replaced), tuple(consider))
                for term, (replaced, consider) in terms["obsolete"].items()
            },
        )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ReleaseError(f"compiled release {directory.name} is damaged: {error}") from error
    return ontology, InformationContent(values, ICSource(manifest["ic_source"])), manifest


def _write_json(path: Path, value: object) -> None:
    with path.open("w", encoding="utf-8") as handle:
        json.dump(value, handle, ensure_ascii=False, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
