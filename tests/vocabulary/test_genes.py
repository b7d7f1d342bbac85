"""Gene lookups follow HGNC's rules (shared/genes/README.md), on the bundled table."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

import pytest

from mme_node.errors import InvalidPatient
from mme_node.vocabulary.gene_cache import compiled_bundled_index
from mme_node.vocabulary.genes import (
    AmbiguousGeneError,
    GeneIndex,
    GeneLevel,
    GeneRecord,
    UnknownGeneError,
    bundled_gene_index,
)


@pytest.fixture(scope="module", params=["parsed", "compiled"])
def genes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> GeneIndex:
    """The bundled table parsed, and read back from its compiled form: the same lookups."""
    if request.param == "parsed":
        return bundled_gene_index()
    compiled = tmp_path_factory.mktemp("compiled") / "hgnc-genes.json"
    compiled_bundled_index(compiled)  # compiles and writes it
    compiled_bundled_index.cache_clear()
    index = compiled_bundled_index(compiled)  # reads it back
    compiled_bundled_index.cache_clear()
    return index


def test_bundled_table_holds_every_approved_gene(genes: GeneIndex) -> None:
    assert len(genes) == 44_997


@pytest.mark.parametrize("text", ["EFTUD2", "HGNC:30858", "9343", "ENSG00000108883"])
def test_resolve_accepts_symbol_and_every_id_kind(genes: GeneIndex, text: str) -> None:
    gene = genes.resolve(text)
    assert gene is not None
    assert (gene.hgnc_id, gene.symbol, gene.entrez_id, gene.ensembl_id) == (
        "HGNC:30858",
        "EFTUD2",
        "9343",
        "ENSG00000108883",
    )


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("SCN1A", GeneLevel.APPROVED),
        ("HGNC:10585", GeneLevel.HGNC_ID),
        ("6323", GeneLevel.ENTREZ),
        ("ENSG00000144285", GeneLevel.ENSEMBL),
        ("SCN1", GeneLevel.PREVIOUS),
        ("Nav1.1", GeneLevel.ALIAS),
    ],
)
def test_resolve_reports_how_the_gene_was_found(
    genes: GeneIndex, text: str, level: GeneLevel
) -> None:
    gene = genes.resolve(text)
    assert gene is not None
    assert (gene.symbol, gene.level) == ("SCN1A", level)


def test_resolve_prefers_previous_symbol_over_another_genes_alias(genes: GeneIndex) -> None:
    gene = genes.resolve("MLL2")
    assert gene is not None
    assert (gene.symbol, gene.hgnc_id, gene.level) == ("KMT2D", "HGNC:7133", GeneLevel.PREVIOUS)


def test_resolve_maps_renamed_march_gene(genes: GeneIndex) -> None:
    gene = genes.resolve("MARCH1")
    assert gene is not None
    assert gene.symbol == "MARCHF1"


def test_resolve_rejects_alias_shared_by_two_genes(genes: GeneIndex) -> None:
    with pytest.raises(AmbiguousGeneError) as raised:
        genes.resolve("MLL4")
    assert {c.symbol for c in raised.value.candidates} == {"KMT2B", "KMT2D"}
    assert "KMT2B" in raised.value.message and "KMT2D" in raised.value.message


def test_resolve_rejects_ensembl_id_listed_on_two_genes(genes: GeneIndex) -> None:
    with pytest.raises(AmbiguousGeneError) as raised:
        genes.resolve("ENSG00000230417")
    assert {c.symbol for c in raised.value.candidates} == {"LINC00595", "LINC00856"}


def test_resolve_compares_symbols_case_insensitively(genes: GeneIndex) -> None:
    gene = genes.resolve("kmt2d")
    assert gene is not None and gene.symbol == "KMT2D"


def test_resolve_accepts_lower_case_hgnc_prefix(genes: GeneIndex) -> None:
    gene = genes.resolve("hgnc:30858")
    assert gene is not None and gene.symbol == "EFTUD2"


def test_resolve_strips_ensembl_version_and_case(genes: GeneIndex) -> None:
    gene = genes.resolve("ensg00000108883.17")
    assert gene is not None and gene.symbol == "EFTUD2"


@pytest.mark.parametrize("text", ["NCBIGene:9343", "ENSEMBL:ENSG00000108883", " EFTUD2 "])
def test_resolve_accepts_curie_prefixes_and_surrounding_space(genes: GeneIndex, text: str) -> None:
    gene = genes.resolve(text)
    assert gene is not None and gene.symbol == "EFTUD2"


@pytest.mark.parametrize("text", ["", "  ", "NA", "NaN", "nan", "null", "None", "N/A", "-"])
def test_resolve_treats_missing_value_markers_as_no_gene(genes: GeneIndex, text: str) -> None:
    assert genes.resolve(text) is None


@pytest.mark.parametrize("text", ["NOTAGENE1", "HGNC:8", "ENSG99999999999", "999999999"])
def test_resolve_rejects_unknown_and_withdrawn_ids(genes: GeneIndex, text: str) -> None:
    with pytest.raises(UnknownGeneError) as raised:
        genes.resolve(text)
    assert text in raised.value.message


def test_bare_number_is_an_entrez_id_not_an_hgnc_id(genes: GeneIndex) -> None:
    by_number = genes.resolve("9343")
    by_hgnc_id = genes.resolve("HGNC:9343")
    assert by_number is not None and by_hgnc_id is not None
    assert by_number.symbol == "EFTUD2"
    assert by_hgnc_id.symbol != "EFTUD2"


def test_gene_errors_are_invalid_patient_errors() -> None:
    assert issubclass(UnknownGeneError, InvalidPatient)
    assert issubclass(AmbiguousGeneError, InvalidPatient)


def test_approved_symbol_wins_over_other_genes_previous_symbol() -> None:
    genes = GeneIndex(
        [
            GeneRecord("HGNC:1", "ABC1", previous_symbols=("XYZ",)),
            GeneRecord("HGNC:2", "XYZ"),
        ]
    )
    gene = genes.resolve("xyz")
    assert gene is not None and gene.hgnc_id == "HGNC:2"


def test_previous_symbol_shared_by_two_genes_is_ambiguous_even_with_unique_alias() -> None:
    genes = GeneIndex(
        [
            GeneRecord("HGNC:1", "ABC1", previous_symbols=("OLD",)),
            GeneRecord("HGNC:2", "ABC2", previous_symbols=("OLD",)),
            GeneRecord("HGNC:3", "ABC3", alias_symbols=("OLD",)),
        ]
    )
    with pytest.raises(AmbiguousGeneError) as raised:
        genes.resolve("OLD")
    assert raised.value.level is GeneLevel.PREVIOUS


def test_from_tsv_reads_plain_and_gzip_tables(tmp_path: Path) -> None:
    table = (
        "hgnc_id\tsymbol\tname\tlocus_group\tstatus\talias_symbol\tprev_symbol\t"
        "entrez_id\tensembl_gene_id\n"
        "HGNC:7\tA2M\talpha-2-macroglobulin\tprotein-coding gene\tApproved\t"
        "FWP007|S863-7\t\t2\tENSG00000175899\n"
    )
    plain = tmp_path / "genes.tsv"
    plain.write_text(table, encoding="utf-8")
    packed = tmp_path / "genes.tsv.gz"
    packed.write_bytes(gzip.compress(table.encode()))
    for path in (plain, packed):
        gene = GeneIndex.from_tsv(path).resolve("s863-7")
        assert gene is not None
        assert (gene.symbol, gene.entrez_id, gene.level) == ("A2M", "2", GeneLevel.ALIAS)


def test_every_benchmark_patient_gene_resolves(genes: GeneIndex) -> None:
    path = resources.files("mme_node") / "data" / "benchmark_patients.json"
    patients = json.loads(path.read_text(encoding="utf-8"))
    symbols = {g["gene"]["id"] for p in patients for g in p["genomicFeatures"]}
    resolved = {text: genes.resolve(text) for text in symbols}
    assert all(gene is not None for gene in resolved.values())
    sgol1 = resolved["SGOL1"]
    assert sgol1 is not None and (sgol1.symbol, sgol1.level) == ("SGO1", GeneLevel.PREVIOUS)
