"""HPO releases: verify the files, compile them once, cache them, switch atomically.

A :class:`ReleaseLibrary` owns one directory (the node's ``hpo_dir``)::

    root/
      ACTIVE                 key of the active release (replaced atomically)
      releases/<key>/        one compiled release (see hpo._compiled)

The key is derived from the SHA-256 of the release files' *decompressed*
content (so ``hp.obo`` and ``hp.obo.gz`` share it, and it matches the
checksums HPO publishes), so loading the same files again reuses the
compiled copy. A release is compiled into a temporary directory and renamed
into place, and only then made active: a damaged or incomplete file raises
:class:`ReleaseError` and leaves the active release as it was.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hpo._compiled import (
    FORMAT,
    MANIFEST,
    has_annotation_rows,
    read_annotation_rows,
    read_compiled,
    read_manifest,
    write_compiled,
)
from hpo._files import content_sha256
from hpo.annotations import DiseaseAnnotations, count_annotations, read_annotations
from hpo.errors import ReleaseError
from hpo.information import (
    InformationContent,
    annotation_ic,
    structural_ic,
    with_structural_ic,
)
from hpo.ontology import Ontology, read_ontology
from hpo.search import TermIndex, TermMatch
from hpo.similarity import SimilarityEngine

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: a stage name and its advance (``total`` 0 = unknown)."""

BUNDLED_DIR = Path(__file__).resolve().parent / "data"
BUNDLED_FILES = (BUNDLED_DIR / "hp.obo.xz", BUNDLED_DIR / "phenotype.hpoa.xz")
"""The default release shipped with the package (HPO 2025-01-16, see data/ATTRIBUTION)."""

_ACTIVE = "ACTIVE"
_RELEASES = "releases"
_ONTOLOGY_NAMES = ("hp.obo", "hp.json")
_ANNOTATION_NAMES = ("phenotype.hpoa",)
_COMPRESSED = ("", ".gz", ".xz", ".bz2")


@dataclass(frozen=True)
class ReleaseInfo:
    """What a compiled release is made of and how it was built."""

    key: str
    version: str
    date: str | None
    ontology_file: str
    annotation_file: str | None
    checksums: dict[str, str]
    term_count: int
    obsolete_count: int
    alt_id_count: int
    annotation_count: int
    disease_count: int
    negated_count: int
    unresolved_count: int
    annotations_version: str | None
    ic_source: str
    compiled_at: str
    bundled: bool = False
    annotations_from: str | None = None
    """Version of the release whose annotations were borrowed (None: its own, or none)."""
    structural_ic_terms: int = 0
    """Terms unknown to borrowed annotations, given the structural IC instead."""

    @property
    def ic_description(self) -> str:
        """How the information content was computed, in one line for curators."""
        if self.ic_source != "annotations":
            return "structure-based (no disease annotations)"
        if self.annotations_from is None:
            version = f" {self.annotations_version}" if self.annotations_version else ""
            return f"from the release's own annotations (phenotype.hpoa{version})"
        return (
            f"from the annotations of HPO release {self.annotations_from} (borrowed; "
            f"phenotype.hpoa {self.annotations_version or 'of unknown version'}); "
            f"{self.structural_ic_terms} terms they do not know get the structural IC"
        )

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> ReleaseInfo:
        """The info stored in a compiled release's manifest (other keys are ignored)."""
        return cls(**{k: v for k, v in manifest.items() if k in cls.__dataclass_fields__})

    def to_manifest(self) -> dict[str, Any]:
        return asdict(self)


class Release:
    """One loaded release: ontology, information content, similarity and search."""

    def __init__(
        self, info: ReleaseInfo, ontology: Ontology, information_content: InformationContent
    ) -> None:
        self.info = info
        self.ontology = ontology
        self.information_content = information_content
        self.similarity = SimilarityEngine(ontology, information_content)

    @property
    def version(self) -> str:
        return self.info.version

    @functools.cached_property
    def term_index(self) -> TermIndex:
        """Built on first use (about half a second), not at load time."""
        return TermIndex(self.ontology)

    def search(self, text: str, limit: int = 10) -> list[TermMatch]:
        """Terms matching ``text`` by id, name or synonym (see :mod:`hpo.search`)."""
        return self.term_index.search(text, limit)

    def __repr__(self) -> str:
        return f"<Release HPO {self.version} ({self.info.key})>"


class ReleaseLibrary:
    """The compiled releases under ``root`` and which one is active."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._loaded: Release | None = None

    def compile(
        self,
        paths: Path | Sequence[Path],
        progress: Progress | None = None,
        *,
        borrow_annotations: bool = False,
    ) -> ReleaseInfo:
        """Verify and compile (unless cached) the release in ``paths``; activate nothing.

        ``paths`` is a directory holding ``hp.obo`` or ``hp.json`` and
        optionally ``phenotype.hpoa`` (each possibly ``.gz``/``.xz``/``.bz2``),
        or those files themselves. Without annotations the information
        content is structure-based, unless ``borrow_annotations``: then the
        annotations of the newest compiled release that has its own are
        counted against the new ontology (terms they do not know get the
        structural IC), and :class:`ReleaseError` says how to supply
        ``phenotype.hpoa`` if no release has any.
        """
        ontology_file, annotation_file = _release_files(paths)
        lender = None
        if annotation_file is None and borrow_annotations:
            lender = self.annotation_lender()
            if lender is None:
                raise ReleaseError(
                    f"{ontology_file.name} comes without phenotype.hpoa and no compiled release "
                    "has annotations to lend: give the annotation file of the same release "
                    "(hp.obo and phenotype.hpoa together), or accept structure-based "
                    "information content explicitly"
                )
        return self._compile_files(ontology_file, annotation_file, lender, progress, bundled=False)

    def load(
        self,
        paths: Path | Sequence[Path],
        progress: Progress | None = None,
        *,
        borrow_annotations: bool = False,
    ) -> ReleaseInfo:
        """:meth:`compile` the release in ``paths``, then make it the library's active one."""
        info = self.compile(paths, progress, borrow_annotations=borrow_annotations)
        return self.activate(info.key)

    def annotation_lender(self) -> ReleaseInfo | None:
        """The newest compiled release compiled with its own annotation file, if any."""
        own = [
            info
            for info in self.list()
            if info.annotation_count
            and info.annotations_from is None
            and has_annotation_rows(self.root / _RELEASES / info.key)
        ]
        return own[-1] if own else None

    def list(self) -> list[ReleaseInfo]:
        """Every compiled release, oldest version first."""
        directory = self.root / _RELEASES
        found = []
        if directory.is_dir():
            for child in directory.iterdir():
                if child.name.startswith(".") or not (child / MANIFEST).is_file():
                    continue
                try:
                    found.append(ReleaseInfo.from_manifest(read_manifest(child)))
                except ReleaseError:
                    continue
        return sorted(found, key=lambda info: (info.version, info.compiled_at))

    def active_key(self) -> str | None:
        """Key of the active release, None if no release was ever activated."""
        try:
            return (self.root / _ACTIVE).read_text("utf-8").strip() or None
        except FileNotFoundError:
            return None

    def active(self) -> Release:
        """The active release; the bundled default (compiled now) if none was loaded."""
        key = self.active_key()
        if key is None:
            key = self.activate(self.bundled().key).key
        if self._loaded is None or self._loaded.info.key != key:
            self._loaded = self.release(key)
        return self._loaded

    def bundled(self) -> ReleaseInfo:
        """The release shipped with the package, compiled into this library on first use."""
        ontology_file, annotation_file = BUNDLED_FILES
        return self._compile_files(ontology_file, annotation_file, None, None, bundled=True)

    def find(self, name: str) -> ReleaseInfo:
        """The compiled release with key ``name``, or the newest compiled with version ``name``."""
        releases = self.list()
        for info in releases:
            if info.key == name:
                return info
        versions = [info for info in releases if info.version == name]
        if not versions:
            known = ", ".join(dict.fromkeys(info.version for info in releases)) or "none"
            raise ReleaseError(
                f"no compiled HPO release {name!r} (compiled: {known}); "
                "load its files first with `mme-node hpo load`"
            )
        return versions[-1]

    def info(self) -> ReleaseInfo:
        """The :class:`ReleaseInfo` of the active release."""
        return self.active().info

    def release(self, key: str) -> Release:
        """Open the compiled release ``key`` (e.g. the previous one, to re-normalise)."""
        directory = self.root / _RELEASES / key
        if not directory.is_dir():
            raise ReleaseError(f"no compiled HPO release {key!r} in {self.root}")
        ontology, ic, manifest = read_compiled(directory)
        return Release(ReleaseInfo.from_manifest(manifest), ontology, ic)

    def activate(self, key: str) -> ReleaseInfo:
        """Make the compiled release ``key`` the active one (atomic pointer swap)."""
        info = ReleaseInfo.from_manifest(read_manifest(self.root / _RELEASES / key))
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=self.root, prefix=".active-", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, self.root / _ACTIVE)
        return info

    def _compile_files(
        self,
        ontology_file: Path,
        annotation_file: Path | None,
        lender: ReleaseInfo | None,
        progress: Progress | None,
        bundled: bool,
    ) -> ReleaseInfo:
        report = progress or _silent
        checksums = {_base_name(ontology_file): _checksum(ontology_file, report)}
        if annotation_file is not None:
            checksums[_base_name(annotation_file)] = _checksum(annotation_file, report)
        lent = [f"annotations of {lender.key}"] if lender is not None else []
        identity = "\n".join([f"format {FORMAT}", *checksums.values(), *lent])
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        directory = self.root / _RELEASES / key
        if (directory / MANIFEST).is_file():
            report("cached", 1, 1)
        else:
            self._compile(key, ontology_file, annotation_file, lender, checksums, bundled, report)
        return ReleaseInfo.from_manifest(read_manifest(directory))

    def _compile(
        self,
        key: str,
        ontology_file: Path,
        annotation_file: Path | None,
        lender: ReleaseInfo | None,
        checksums: dict[str, str],
        bundled: bool,
        report: Progress,
    ) -> None:
        report(f"reading {ontology_file.name}", 0, 1)
        ontology = read_ontology(ontology_file)
        report(f"reading {ontology_file.name}", 1, 1)
        annotations: DiseaseAnnotations | None = None
        if annotation_file is not None:
            stage = f"reading {annotation_file.name}"
            report(stage, 0, 0)
            annotations = read_annotations(
                annotation_file, ontology, lambda rows: report(stage, rows, 0)
            )
        elif lender is not None:
            report(f"counting the annotations of {lender.version}", 0, 1)
            annotations = self._borrowed_annotations(lender, ontology)
        new_terms: list[int] = []
        if annotations is not None and annotations.disease_count > 0:
            ic = annotation_ic(annotations)
            if lender is not None:
                known = set(self.release(lender.key).ontology.ids)
                new_terms = [i for i, term in enumerate(ontology.ids) if term not in known]
                ic = with_structural_ic(ic, ontology, new_terms)
        else:
            ic = structural_ic(ontology)
        info = ReleaseInfo(
            key=key,
            version=ontology.version,
            date=ontology.date.isoformat() if ontology.date else None,
            ontology_file=str(ontology_file),
            annotation_file=str(annotation_file) if annotation_file else None,
            checksums=checksums,
            term_count=len(ontology),
            obsolete_count=len(ontology.obsolete),
            alt_id_count=len(ontology.alt_ids),
            annotation_count=annotations.annotation_count if annotations else 0,
            disease_count=annotations.disease_count if annotations else 0,
            negated_count=annotations.negated_count if annotations else 0,
            unresolved_count=annotations.unresolved_count if annotations else 0,
            annotations_version=annotations.version or None if annotations else None,
            ic_source=ic.source.value,
            compiled_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            bundled=bundled,
            annotations_from=lender.version if lender is not None else None,
            structural_ic_terms=len(new_terms),
        )
        releases = self.root / _RELEASES
        releases.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=releases, prefix=".compiling-"))
        try:
            report("writing compiled release", 0, 1)
            own_rows = annotations.rows if annotations is not None and lender is None else None
            write_compiled(staging / key, ontology, ic, info.to_manifest(), own_rows)
            try:
                os.rename(staging / key, releases / key)
            except OSError:
                # Another process compiled the same files meanwhile: keep its copy.
                if not (releases / key / MANIFEST).is_file():
                    raise
            report("writing compiled release", 1, 1)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _borrowed_annotations(self, lender: ReleaseInfo, ontology: Ontology) -> DiseaseAnnotations:
        rows = read_annotation_rows(self.root / _RELEASES / lender.key)
        if rows is None:
            raise ReleaseError(f"compiled release {lender.key} keeps no annotations to lend")
        return count_annotations(rows, ontology)


def _release_files(paths: Path | Sequence[Path]) -> tuple[Path, Path | None]:
    """The ontology file and the optional annotation file among ``paths``."""
    candidates: list[Path] = []
    for path in [paths] if isinstance(paths, Path | str) else list(paths):
        path = Path(path)
        if path.is_dir():
            candidates.extend(
                path / (name + suffix)
                for name in _ONTOLOGY_NAMES + _ANNOTATION_NAMES
                for suffix in _COMPRESSED
                if (path / (name + suffix)).is_file()
            )
        elif path.is_file():
            candidates.append(path)
        else:
            raise ReleaseError(f"no such file or directory: {path}")
    ontologies = [p for p in candidates if _base_name(p).endswith((".obo", ".json"))]
    annotations = [p for p in candidates if _base_name(p).endswith(".hpoa")]
    unknown = [p for p in candidates if p not in ontologies and p not in annotations]
    if unknown:
        raise ReleaseError(f"not an HPO release file (expect .obo, .json or .hpoa): {unknown[0]}")
    if len(ontologies) != 1:
        found = ", ".join(p.name for p in ontologies) or "none"
        raise ReleaseError(f"expected one ontology file (hp.obo or hp.json), found {found}")
    if len(annotations) > 1:
        raise ReleaseError("expected at most one phenotype.hpoa file")
    return ontologies[0], annotations[0] if annotations else None


def _base_name(path: Path) -> str:
    name = path.name.lower()
    for suffix in _COMPRESSED[1:]:
        name = name.removesuffix(suffix)
    return name


def _checksum(path: Path, report: Progress) -> str:
    stage = f"verifying {path.name}"
    return content_sha256(path, lambda done: report(stage, done, 0))


def _silent(stage: str, done: int, total: int) -> None:
    """The progress callback used when the caller gives none."""
