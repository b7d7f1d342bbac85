"""The HPO ``is_a`` hierarchy as compact arrays, and reading it from ``hp.obo``/``hp.json``.

Only current terms under the root ``HP:0000001`` ("All") are indexed, in
ascending id order; index ``i`` addresses every per-term array of a release
(names, information content, similarity vectors). Obsolete terms and
alternative ids are kept only as lookup tables for :meth:`Ontology.resolve`.
"""

from __future__ import annotations

import datetime
import json
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpo._csr import Csr, Indices, csr_from_rows, transpose
from hpo._files import open_binary
from hpo.errors import ObsoleteTermError, ReleaseError, UnknownTermError

ROOT = "HP:0000001"
"""The root of the HPO ("All"); every indexed term descends from it."""

_ID = re.compile(r"^HP:\d{7}$")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_MAX_REPLACEMENT_CHAIN = 16


@dataclass(frozen=True)
class ObsoleteTerm:
    """What the ontology says to use instead of an obsolete term."""

    replaced_by: tuple[str, ...] = ()
    consider: tuple[str, ...] = ()


@dataclass(frozen=True)
class TermRecord:
    """One current term as read from a release file, before indexing."""

    id: str
    name: str
    definition: str
    synonyms: tuple[str, ...]
    parents: tuple[str, ...]


def normalize_id(term_id: str) -> str:
    """Canonical spelling of an HPO id: ``hp_0001250`` -> ``HP:0001250``."""
    return term_id.strip().upper().replace("_", ":", 1)


def version_date(version: str) -> datetime.date | None:
    """The release date contained in a version string such as ``2025-01-16``."""
    found = _DATE.search(version)
    if found is None:
        return None
    try:
        return datetime.date.fromisoformat(found.group(1))
    except ValueError:
        return None


class Ontology:
    """Current HPO terms with their names, synonyms and ``is_a`` closures.

    ``ancestors`` and ``descendants`` include the term itself. Methods accept
    a term id (``"HP:0001250"``) or an index where noted; ids must be current
    primary ids except in :meth:`resolve`, which maps the others.
    """

    def __init__(
        self,
        *,
        version: str,
        ids: Sequence[str],
        names: Sequence[str],
        definitions: Sequence[str],
        synonyms: Sequence[tuple[str, ...]],
        parents: Csr,
        ancestors: Csr,
        alt_ids: Mapping[str, str],
        obsolete: Mapping[str, ObsoleteTerm],
    ) -> None:
        self.version = version
        self.date = version_date(version)
        self.ids: tuple[str, ...] = tuple(ids)
        self.names: tuple[str, ...] = tuple(names)
        self.definitions: tuple[str, ...] = tuple(definitions)
        self.synonym_lists: tuple[tuple[str, ...], ...] = tuple(synonyms)
        self.parents = parents
        self.ancestor_closure = ancestors
        self.descendant_closure = transpose(ancestors, len(self.ids))
        self.alt_ids: Mapping[str, str] = dict(alt_ids)
        self.obsolete: Mapping[str, ObsoleteTerm] = dict(obsolete)
        self._index = {term_id: i for i, term_id in enumerate(self.ids)}
        if ROOT not in self._index:
            raise ReleaseError(f"the ontology has no root term {ROOT}")
        self.root = self._index[ROOT]

    @classmethod
    def from_terms(
        cls,
        version: str,
        terms: Sequence[TermRecord],
        alt_ids: Mapping[str, str],
        obsolete: Mapping[str, ObsoleteTerm],
    ) -> Ontology:
        """Index current terms and compute the ancestor closure.

        Raises :class:`ReleaseError` when the hierarchy is inconsistent: no
        root, a parent that is not a current term, a term that does not reach
        the root, or an ``is_a`` cycle (signs of a damaged or partial file).
        """
        by_id = {term.id: term for term in terms}
        if ROOT not in by_id:
            raise ReleaseError(f"the ontology has no root term {ROOT}; is the file complete?")
        ordered = sorted(by_id)
        index = {term_id: i for i, term_id in enumerate(ordered)}
        parent_rows: list[list[int]] = []
        for term_id in ordered:
            row: list[int] = []
            for parent in by_id[term_id].parents:
                if parent not in index:
                    raise ReleaseError(
                        f"term {term_id} has parent {parent}, which is not a current term"
                    )
                row.append(index[parent])
            parent_rows.append(row)
        closure = _ancestor_rows(parent_rows, ordered)
        root = index[ROOT]
        for i, ancestors in enumerate(closure):
            if root not in ancestors:
                raise ReleaseError(f"term {ordered[i]} does not descend from {ROOT}")
        return cls(
            version=version,
            ids=ordered,
            names=[by_id[t].name for t in ordered],
            definitions=[by_id[t].definition for t in ordered],
            synonyms=[by_id[t].synonyms for t in ordered],
            parents=csr_from_rows(parent_rows),
            ancestors=csr_from_rows([sorted(row) for row in closure]),
            alt_ids={alt: primary for alt, primary in alt_ids.items() if alt not in index},
            obsolete={t: o for t, o in obsolete.items() if t not in index},
        )

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, term_id: object) -> bool:
        return term_id in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __repr__(self) -> str:
        return f"<Ontology HPO {self.version}: {len(self)} terms>"

    def index_of(self, term_id: str) -> int:
        """The index of a current primary term id.

        Raises :class:`UnknownTermError`; for alternative or obsolete ids the
        message points to :meth:`resolve`.
        """
        try:
            return self._index[term_id]
        except KeyError:
            pass
        if term_id in self.alt_ids or term_id in self.obsolete:
            detail = f"it is an alternative or obsolete id of HPO {self.version}; resolve it first"
        else:
            detail = f"not in HPO {self.version}"
        raise UnknownTermError(term_id, detail)

    def indices_of(self, term_ids: Sequence[str]) -> Indices:
        """Indices of several current term ids (see :meth:`index_of`)."""
        return np.fromiter((self.index_of(t) for t in term_ids), np.int32, len(term_ids))

    def term_id(self, index: int) -> str:
        return self.ids[index]

    def name(self, term: str | int) -> str:
        return self.names[self._at(term)]

    def definition(self, term: str | int) -> str:
        return self.definitions[self._at(term)]

    def synonyms(self, term: str | int) -> tuple[str, ...]:
        return self.synonym_lists[self._at(term)]

    def parent_ids(self, term: str | int) -> tuple[str, ...]:
        return tuple(self.ids[i] for i in self.parents.row(self._at(term)))

    def ancestors(self, term: str | int) -> Indices:
        """Sorted indices of the term and all its ``is_a`` ancestors."""
        return self.ancestor_closure.row(self._at(term))

    def ancestor_ids(self, term: str | int) -> tuple[str, ...]:
        """Ids of the term and all its ancestors (e.g. for a keyword index)."""
        return tuple(self.ids[i] for i in self.ancestors(term))

    def descendants(self, term: str | int) -> Indices:
        """Sorted indices of the term and all its ``is_a`` descendants."""
        return self.descendant_closure.row(self._at(term))

    def is_descendant_or_self(self, term: str | int, ancestor: str | int) -> bool:
        """True when ``term`` is ``ancestor`` or lies below it."""
        row = self.ancestors(term)
        target = self._at(ancestor)
        position = int(np.searchsorted(row, target))
        return position < len(row) and int(row[position]) == target

    def resolve(self, term_id: str, *, follow_consider: bool = False) -> str:
        """The current primary id for ``term_id``.

        Accepts any spelling :func:`normalize_id` fixes, maps an ``alt_id``
        to its primary term and an obsolete term to its single
        ``replaced_by`` term (following chains). With ``follow_consider``, an
        obsolete term without ``replaced_by`` but with a single ``consider``
        term maps to that term too (what a patient's terms are carried over
        with). Raises :class:`UnknownTermError` for ids this release never
        had, and :class:`ObsoleteTermError` (listing ``consider`` terms) for
        obsolete terms without a single successor.
        """
        current = normalize_id(term_id)
        for _ in range(_MAX_REPLACEMENT_CHAIN):
            if current in self._index:
                return current
            if current in self.alt_ids:
                current = self.alt_ids[current]
                continue
            retired = self.obsolete.get(current)
            if retired is None:
                break
            if len(retired.replaced_by) == 1:
                current = retired.replaced_by[0]
                continue
            if follow_consider and not retired.replaced_by and len(retired.consider) == 1:
                current = retired.consider[0]
                continue
            raise ObsoleteTermError(current, retired.replaced_by + retired.consider)
        raise UnknownTermError(term_id, f"not in HPO {self.version}")

    def _at(self, term: str | int) -> int:
        if isinstance(term, str):
            return self.index_of(term)
        if not 0 <= term < len(self.ids):
            raise UnknownTermError(str(term), "term index out of range")
        return term


def _ancestor_rows(parent_rows: list[list[int]], ids: Sequence[str]) -> list[set[int]]:
    """Reflexive-transitive closure of ``is_a``, parents before children."""
    closure: list[set[int] | None] = [None] * len(parent_rows)
    for start in range(len(parent_rows)):
        stack = [start]
        on_path: set[int] = set()
        while stack:
            node = stack[-1]
            if closure[node] is not None:
                stack.pop()
                continue
            pending = [p for p in parent_rows[node] if closure[p] is None]
            if pending:
                on_path.add(node)
                for parent in pending:
                    if parent in on_path:
                        raise ReleaseError(f"is_a cycle through term {ids[parent]}")
                    stack.append(parent)
                continue
            closed = {node}
            for parent in parent_rows[node]:
                closed |= closure[parent] or set()
            closure[node] = closed
            on_path.discard(node)
            stack.pop()
    return [row for row in closure if row is not None]


def read_ontology(path: Path) -> Ontology:
    """Read ``hp.obo`` or ``hp.json`` (obographs), plain or compressed, with pronto.

    Raises :class:`ReleaseError` when the file cannot be parsed or is
    incomplete (see :meth:`Ontology.from_terms`).
    """
    # Imported here: compiling a release needs pronto, loading a compiled one does not.
    from pronto.ontology import Ontology as ProntoOntology

    if not path.is_file():
        raise ReleaseError(f"ontology file not found: {path}")
    _check_obographs_shape(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = ProntoOntology(str(path), encoding="utf-8")
        version = _release_version(parsed.metadata)
        terms: list[TermRecord] = []
        alt_ids: dict[str, str] = {}
        obsolete: dict[str, ObsoleteTerm] = {}
        for term in parsed.terms():
            if not _ID.match(term.id):
                continue
            if term.obsolete:
                obsolete[term.id] = ObsoleteTerm(
                    tuple(sorted(t.id for t in term.replaced_by)),
                    tuple(sorted(t.id for t in term.consider)),
                )
            else:
                terms.append(
                    TermRecord(
                        id=term.id,
                        name=term.name or "",
                        definition=str(term.definition or ""),
                        synonyms=tuple(sorted({s.description for s in term.synonyms})),
                        parents=tuple(
                            sorted(
                                p.id
                                for p in term.superclasses(distance=1, with_self=False)
                                if _ID.match(p.id)
                            )
                        ),
                    )
                )
            for alt in term.alternate_ids:
                alt_ids[alt] = term.id
    except ReleaseError:
        raise
    except BaseException as error:  # pronto/fastobo raise many kinds on a damaged file
        # fastobo's Rust panics surface as pyo3's PanicException, a BaseException.
        if not isinstance(error, Exception) and type(error).__name__ != "PanicException":
            raise
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ReleaseError(f"{path.name} is not a readable HPO ontology: {detail}") from error
    return Ontology.from_terms(version, terms, alt_ids, obsolete)


def _check_obographs_shape(path: Path) -> None:
    """Refuse a JSON file that is not an obographs document before pronto reads it.

    pronto's JSON reader (fastobo-graphs, in Rust) panics on a document
    without graphs, printing a Rust backtrace before any error can be caught;
    an OBO file is left to pronto, which reports its errors cleanly.
    """
    with open_binary(path) as stream:
        head = stream.read(64).lstrip()
        if not head.startswith(b"{"):
            return
        try:
            document = json.loads(head + stream.read())
        except ValueError as error:
            raise ReleaseError(f"{path.name} is not valid JSON: {error}") from error
    graphs = document.get("graphs") if isinstance(document, dict) else None
    if not isinstance(graphs, list) or not graphs or not isinstance(graphs[0], dict):
        raise ReleaseError(
            f'{path.name} is not an obographs ontology: it has no "graphs" list of graphs'
        )
    if not isinstance(graphs[0].get("nodes"), list):
        raise ReleaseError(f"{path.name} is not an obographs ontology: its graph has no nodes")


def _release_version(metadata: object) -> str:
    """``2025-01-16`` from ``data-version: hp/releases/2025-01-16`` (or owl:versionInfo)."""
    candidates = [str(getattr(metadata, "data_version", None) or "")]
    for annotation in getattr(metadata, "annotations", ()):
        if getattr(annotation, "property", "") == "owl:versionInfo":
            candidates.append(str(getattr(annotation, "literal", "")))
    for candidate in candidates:
        found = _DATE.search(candidate)
        if found:
            return found.group(1)
    for candidate in candidates:
        if candidate:
            return candidate
    raise ReleaseError("the ontology file has no data-version: cannot tell which release it is")
