"""The bundled gene table is read by the processes that look genes up, and only by them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mme_node.settings import Settings
from mme_node.vocabulary.gene_cache import BundledGenes, compiled_bundled_index
from mme_node.vocabulary.genes import bundled_gene_index

STARTS = """
import asyncio, json, sys
from pathlib import Path
from mme_node.node import start_node
from mme_node.settings import load_settings
from mme_node.vocabulary.gene_cache import compiled_bundled_index

async def main(serving: bool) -> dict:
    settings = load_settings(environ={}).replace(
        data_dir=Path(sys.argv[1]), hpo_dir_override=Path(sys.argv[2])
    )
    node = await start_node(settings, serving=serving)
    try:
        read_at_start = compiled_bundled_index.cache_info().currsize == 1
        gene = node.patients.genes.resolve("EFTUD2")
        return {"read_at_start": read_at_start, "hgnc_id": gene.hgnc_id}
    finally:
        await node.stop()

print(json.dumps(asyncio.run(main(sys.argv[3] == "serving"))))
"""


def started(settings: Settings, mode: str) -> dict[str, object]:
    """Start a node in a fresh interpreter (the table cache empty) and look a gene up."""
    assert settings.hpo_dir_override is not None
    arguments = [str(settings.data_dir), str(settings.hpo_dir_override), mode]
    output = subprocess.run(
        [sys.executable, "-c", STARTS, *arguments],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    return dict(json.loads(output.splitlines()[-1]))


def test_a_serving_node_reads_the_table_while_it_starts(node_settings: Settings) -> None:
    assert started(node_settings, "serving") == {"read_at_start": True, "hgnc_id": "HGNC:30858"}


def test_a_command_line_node_reads_it_at_the_first_lookup(node_settings: Settings) -> None:
    assert started(node_settings, "command") == {"read_at_start": False, "hgnc_id": "HGNC:30858"}


def test_bundled_genes_resolve_as_the_table_does(tmp_path: Path) -> None:
    compiled = BundledGenes(tmp_path / "hgnc-genes.json")
    for text in ("EFTUD2", "HGNC:30858", "na"):
        assert BundledGenes().resolve(text) == bundled_gene_index().resolve(text)
        assert compiled.resolve(text) == bundled_gene_index().resolve(text)
    assert BundledGenes().load() is bundled_gene_index()
    assert compiled.load() is compiled_bundled_index(tmp_path / "hgnc-genes.json")
    compiled_bundled_index.cache_clear()
