"""The bundled HGNC table compiled once, kept beside the compiled HPO releases.

Every serving process reads the gene table while it starts, so a restart of
``serve --workers N`` read it N times. Parsing the gzipped table and building
the lookup tables cost about 0.25 s of CPU each time; reading the tables back
already built costs less than half that (docs/benchmarks.md, "Serving at
scale").

The compiled file is JSON (data, never code). Its first line holds the
format, the SHA-256 of the bundled table it was compiled from and the SHA-256
of the rest of the file, which is the index (:meth:`GeneIndex.compiled`).
It is used only when all three match: a new bundled table (an upgrade), a
newer format, or a damaged or truncated file makes the process compile the
table again and replace the file. It is written under a temporary name and
renamed, so processes starting together never read a partial file (at worst
each compiles the table once).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
from importlib import resources
from pathlib import Path

from mme_node.vocabulary.genes import BUNDLED_TABLE, GeneIndex, ResolvedGene, bundled_gene_index

log = logging.getLogger(__name__)

FORMAT = 1
"""Bumped whenever :meth:`GeneIndex.compiled` changes; files of other formats are compiled again."""


class BundledGenes:
    """The bundled HGNC table, read when a gene is first looked up or :meth:`load` is called.

    A command that never looks up a gene (``tokens``, ``doctor``, the process
    composing ``serve``'s banner) never reads it; a serving process calls
    :meth:`load` while it starts, before its first request. With
    ``compiled`` (a file path) the table is read from its compiled form
    there, compiled first if needed; without, parsed from the package.
    Either way once per process.
    """

    def __init__(self, compiled: Path | None = None) -> None:
        self.compiled = compiled

    def load(self) -> GeneIndex:
        if self.compiled is None:
            return bundled_gene_index()
        return compiled_bundled_index(self.compiled)

    def resolve(self, text: str) -> ResolvedGene | None:
        return self.load().resolve(text)


@functools.cache
def compiled_bundled_index(path: Path) -> GeneIndex:
    """The bundled table's index from its compiled form at ``path`` (compiled first if needed)."""
    with resources.as_file(resources.files("mme_node") / "data" / BUNDLED_TABLE) as table:
        return compiled_index(path, table)


def compiled_index(path: Path, table: Path) -> GeneIndex:
    """The index of ``table``, read from ``path`` if that holds it, else compiled there."""
    source = hashlib.sha256(table.read_bytes()).hexdigest()
    index = _read(path, source)
    if index is None:
        index = GeneIndex.from_tsv(table)
        try:
            _write(path, index, source)
        except OSError as error:
            log.warning("compiled gene table not saved to %s (%s)", path, error)
    return index


def _read(path: Path, source: str) -> GeneIndex | None:
    """The index in ``path``, or None when it is missing, stale or damaged (said in the log)."""
    try:
        with path.open("rb") as handle:
            header = json.loads(handle.readline())
            body = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("compiled gene table %s unreadable (%s): compiling it again", path, error)
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        log.info("compiled gene table %s is of another format: compiling it again", path)
        return None
    if header.get("source_sha256") != source:
        log.info("compiled gene table %s is of another gene table: compiling it again", path)
        return None
    if header.get("sha256") != hashlib.sha256(body).hexdigest():
        log.warning("compiled gene table %s is damaged: compiling it again", path)
        return None
    try:
        return GeneIndex.from_compiled(json.loads(body))
    except (ValueError, KeyError, TypeError) as error:
        log.warning("compiled gene table %s unusable (%s): compiling it again", path, error)
        return None


def _write(path: Path, index: GeneIndex, source: str) -> None:
    body = json.dumps(index.compiled(), separators=(",", ":")).encode()
    header = {"format": FORMAT, "source_sha256": source, "sha256": hashlib.sha256(body).hexdigest()}
    writing = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        with writing.open("wb") as handle:
            handle.write(json.dumps(header).encode() + b"\n" + body)
        writing.replace(path)
    finally:
        writing.unlink(missing_ok=True)
