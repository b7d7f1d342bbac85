"""Gene identifier normalisation against the bundled HGNC table.

Peers name a gene by HGNC symbol (approved, previous or alias), HGNC id,
Ensembl gene id or Entrez id. :class:`GeneIndex` turns any of them into one
:class:`ResolvedGene` so that genes can be compared by HGNC id. The lookup
rules are HGNC's own (see ``docs/patients.md``): ids are exact keys; symbols
are compared case-insensitively one level at a time (approved, previous,
alias) and the first level with any match decides, so a previous symbol is
never shadowed by another gene's alias and an approved symbol always wins.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from mme_node.errors import InvalidPatient

#: Inputs that mean "no gene" although a few of them are real HGNC symbols
#: (``NA`` is a previous symbol of XK, ``NaN`` an alias of SCN11A): spreadsheets
#: and pandas produce them for empty cells far more often than anyone means XK.
NO_GENE_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "-", "."})

_HGNC_ID = re.compile(r"HGNC:(\d+)", re.IGNORECASE)
_ENSEMBL_ID = re.compile(r"(?:ENSEMBL:)?(ENSG\d{11})(?:\.\d+)?", re.IGNORECASE)
_ENTREZ_ID = re.compile(r"(?:(?:NCBIGene|Entrez):)?(\d+)", re.IGNORECASE)


class GeneLevel(StrEnum):
    """How a gene was found: by which id, or at which symbol level."""

    APPROVED = "approved"
    PREVIOUS = "previous"
    ALIAS = "alias"
    HGNC_ID = "hgnc_id"
    ENSEMBL = "ensembl"
    ENTREZ = "entrez"


#: How an ambiguous match reads in an error; the other levels are unique keys.
_AMBIGUITY = {
    GeneLevel.PREVIOUS: "a previous symbol of",
    GeneLevel.ALIAS: "an alias of",
    GeneLevel.ENSEMBL: "the Ensembl id of",
}


@dataclass(frozen=True, slots=True)
class GeneRecord:
    """One approved HGNC gene: a row of the bundled table."""

    hgnc_id: str
    symbol: str
    entrez_id: str | None = None
    ensembl_id: str | None = None
    previous_symbols: tuple[str, ...] = ()
    alias_symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResolvedGene:
    hgnc_id: str
    symbol: str
    entrez_id: str | None
    ensembl_id: str | None
    level: GeneLevel


class GeneLookupError(InvalidPatient):
    """A gene id that cannot be turned into exactly one HGNC gene (422)."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


class UnknownGeneError(GeneLookupError):
    def __init__(self, text: str) -> None:
        super().__init__(f'"{text}" is not a known HGNC gene symbol or gene id', text)


class AmbiguousGeneError(GeneLookupError):
    """Several genes share the id or symbol; ``candidates`` lists them all."""

    def __init__(self, text: str, level: GeneLevel, candidates: Iterable[GeneRecord]) -> None:
        self.candidates = tuple(candidates)
        self.level = level
        listed = ", ".join(f"{c.symbol} ({c.hgnc_id})" for c in self.candidates)
        how = _AMBIGUITY[level]
        super().__init__(f'"{text}" is ambiguous: it is {how} {listed}', text)


class GeneResolver(Protocol):
    """What normalising a patient needs of a gene table: one lookup."""

    def resolve(self, text: str) -> ResolvedGene | None: ...


def _key(symbol: str) -> str:
    return symbol.casefold()


class GeneIndex:
    """Exact-key and symbol lookups over a set of HGNC gene records.

    The genes are kept as rows of plain values and the lookup tables map
    keys to row numbers, so that :meth:`compiled` gives the whole index as
    JSON data that :meth:`from_compiled` takes back without building any of
    it again (:mod:`.gene_cache` keeps it between starts).
    """

    def __init__(self, records: Iterable[GeneRecord]) -> None:
        rows: list[GeneRow] = []
        by_hgnc: dict[str, int] = {}
        by_entrez: dict[str, int] = {}
        by_ensembl: dict[str, list[int]] = {}
        approved: dict[str, int] = {}
        previous: dict[str, list[int]] = {}
        alias: dict[str, list[int]] = {}
        for number, record in enumerate(records):
            rows.append(_row_of(record))
            by_hgnc[record.hgnc_id] = number
            approved[_key(record.symbol)] = number
            if record.entrez_id:
                by_entrez[record.entrez_id] = number
            if record.ensembl_id:
                by_ensembl.setdefault(record.ensembl_id, []).append(number)
            for level, symbols in (
                (previous, record.previous_symbols),
                (alias, record.alias_symbols),
            ):
                for key in dict.fromkeys(_key(s) for s in symbols):
                    level.setdefault(key, []).append(number)
        self._rows = rows
        self._by_hgnc, self._by_entrez, self._approved = by_hgnc, by_entrez, approved
        self._by_ensembl, self._previous, self._alias = by_ensembl, previous, alias

    def compiled(self) -> dict[str, Any]:
        """The rows and lookup tables as JSON data (see :meth:`from_compiled`)."""
        return {
            "rows": self._rows,
            "by_hgnc": self._by_hgnc,
            "by_entrez": self._by_entrez,
            "by_ensembl": self._by_ensembl,
            "approved": self._approved,
            "previous": self._previous,
            "alias": self._alias,
        }

    @classmethod
    def from_compiled(cls, document: dict[str, Any]) -> GeneIndex:
        """The index :meth:`compiled` gave ``document`` of, as it is: check ``document`` first."""
        index = cls(())
        index._rows = document["rows"]
        index._by_hgnc, index._by_entrez = document["by_hgnc"], document["by_entrez"]
        index._by_ensembl, index._approved = document["by_ensembl"], document["approved"]
        index._previous, index._alias = document["previous"], document["alias"]
        return index

    def __len__(self) -> int:
        return len(self._rows)

    @classmethod
    def from_tsv(cls, path: Path) -> GeneIndex:
        """Read a table in the bundled format (gzip-compressed if the name ends in .gz)."""
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", newline="\n") as lines:
            return cls(_read_records(lines))

    def resolve(self, text: str) -> ResolvedGene | None:
        """The one HGNC gene ``text`` names, or None for a "no gene" marker.

        Raises :class:`UnknownGeneError` or :class:`AmbiguousGeneError`.
        """
        query = text.strip()
        if query.casefold() in NO_GENE_MARKERS:
            return None
        if match := _HGNC_ID.fullmatch(query):
            found = self._by_hgnc.get(f"HGNC:{int(match[1])}")
            return self._one(text, GeneLevel.HGNC_ID, [] if found is None else [found])
        if match := _ENSEMBL_ID.fullmatch(query):
            return self._one(text, GeneLevel.ENSEMBL, self._by_ensembl.get(match[1].upper(), []))
        if match := _ENTREZ_ID.fullmatch(query):
            found = self._by_entrez.get(match[1])
            return self._one(text, GeneLevel.ENTREZ, [] if found is None else [found])
        key = _key(query)
        if (approved := self._approved.get(key)) is not None:
            return self._one(text, GeneLevel.APPROVED, [approved])
        if previous := self._previous.get(key):
            return self._one(text, GeneLevel.PREVIOUS, previous)
        return self._one(text, GeneLevel.ALIAS, self._alias.get(key, []))

    def _one(self, text: str, level: GeneLevel, rows: list[int]) -> ResolvedGene:
        if not rows:
            raise UnknownGeneError(text)
        if len(rows) > 1:
            raise AmbiguousGeneError(text, level, (_record_of(self._rows[row]) for row in rows))
        gene = _record_of(self._rows[rows[0]])
        return ResolvedGene(gene.hgnc_id, gene.symbol, gene.entrez_id, gene.ensembl_id, level)


GeneRow = list[Any]
"""A gene as plain values: HGNC id, symbol, Entrez id, Ensembl id (None when missing),
previous symbols and alias symbols (each joined by ``|``, as in the table)."""


def _row_of(record: GeneRecord) -> GeneRow:
    return [
        record.hgnc_id,
        record.symbol,
        record.entrez_id,
        record.ensembl_id,
        "|".join(record.previous_symbols),
        "|".join(record.alias_symbols),
    ]


def _record_of(row: GeneRow) -> GeneRecord:
    hgnc_id, symbol, entrez_id, ensembl_id, previous, alias = row
    return GeneRecord(
        hgnc_id=hgnc_id,
        symbol=symbol,
        entrez_id=entrez_id,
        ensembl_id=ensembl_id,
        previous_symbols=tuple(previous.split("|")) if previous else (),
        alias_symbols=tuple(alias.split("|")) if alias else (),
    )


def _read_records(lines: Iterable[str]) -> Iterator[GeneRecord]:
    rows = iter(lines)
    header = next(rows).rstrip("\n").split("\t")
    column = {name: i for i, name in enumerate(header)}

    def many(values: list[str], name: str) -> tuple[str, ...]:
        cell = values[column[name]]
        return tuple(cell.split("|")) if cell else ()

    for line in rows:
        values = line.rstrip("\n").split("\t")
        yield GeneRecord(
            hgnc_id=values[column["hgnc_id"]],
            symbol=values[column["symbol"]],
            entrez_id=values[column["entrez_id"]] or None,
            ensembl_id=values[column["ensembl_gene_id"]] or None,
            previous_symbols=many(values, "prev_symbol"),
            alias_symbols=many(values, "alias_symbol"),
        )


BUNDLED_TABLE = "hgnc_genes.tsv.gz"


@functools.cache
def bundled_gene_index() -> GeneIndex:
    """The index of the HGNC table shipped with the node, built once per process."""
    with resources.as_file(resources.files("mme_node") / "data" / BUNDLED_TABLE) as path:
        return GeneIndex.from_tsv(path)
