"""The compiled gene table: used when it holds the bundled table, compiled again when not."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path

import pytest

from mme_node.vocabulary.gene_cache import FORMAT, compiled_index

HEADER = "hgnc_id\tsymbol\tlocus_group\talias_symbol\tprev_symbol\tentrez_id\tensembl_gene_id\n"
A2M = "HGNC:7\tA2M\tprotein-coding gene\tFWP007|S863-7\t\t2\tENSG00000175899\n"
NAT1 = "HGNC:7645\tNAT1\tprotein-coding gene\tAAC1\tAAC1\t9\tENSG00000171428\n"


def table(path: Path, *rows: str) -> Path:
    path.write_bytes(gzip.compress((HEADER + "".join(rows)).encode()))
    return path


def symbol(index_text: str, path: Path, source: Path) -> str | None:
    gene = compiled_index(path, source).resolve(index_text)
    return None if gene is None else gene.symbol


def test_compiled_once_then_read_back(tmp_path: Path) -> None:
    source = table(tmp_path / "genes.tsv.gz", A2M, NAT1)
    compiled = tmp_path / "hgnc-genes.json"
    first = compiled_index(compiled, source)
    written = compiled.read_bytes()
    header = json.loads(written.splitlines()[0])
    assert header["format"] == FORMAT and len(header["source_sha256"]) == 64
    again = compiled_index(compiled, source)
    assert compiled.read_bytes() == written
    for text in ("a2m", "S863-7", "HGNC:7645", "9", "ENSG00000171428"):
        assert again.resolve(text) == first.resolve(text)
    assert len(again) == 2


def test_a_new_bundled_table_is_compiled_again(tmp_path: Path) -> None:
    compiled = tmp_path / "hgnc-genes.json"
    assert symbol("NAT1", compiled, table(tmp_path / "old.tsv.gz", A2M, NAT1)) == "NAT1"
    newer = table(tmp_path / "new.tsv.gz", A2M, NAT1.replace("\tNAT1\t", "\tNAT1B\t"))
    assert symbol("NAT1B", compiled, newer) == "NAT1B"
    assert symbol("NAT1B", compiled, newer) == "NAT1B"  # and the file now holds it


@pytest.mark.parametrize(
    "damage", ["a changed byte", "truncated", "empty", "not JSON", "another format", "no index"]
)
def test_a_damaged_or_foreign_file_is_compiled_again(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = table(tmp_path / "genes.tsv.gz", A2M, NAT1)
    compiled = tmp_path / "hgnc-genes.json"
    compiled_index(compiled, source)
    header, body = compiled.read_bytes().split(b"\n", 1)
    if damage == "a changed byte":
        written = header + b"\n" + body.replace(b"NAT1", b"NAT2", 1)
    elif damage == "truncated":
        written = header + b"\n" + body[: len(body) // 2]
    elif damage == "empty":
        written = b""
    elif damage == "not JSON":
        written = b"\x00\xff garbage\n" + body
    elif damage == "another format":
        written = json.dumps(json.loads(header) | {"format": FORMAT + 1}).encode() + b"\n" + body
    else:  # a file whose checksum matches but holds no index (another program's JSON)
        other = b'{"rows": []}'
        fields = json.loads(header) | {"sha256": hashlib.sha256(other).hexdigest()}
        written = json.dumps(fields).encode() + b"\n" + other
    compiled.write_bytes(written)
    with caplog.at_level(logging.INFO, logger="mme_node.vocabulary.gene_cache"):
        assert symbol("NAT1", compiled, source) == "NAT1"
    assert "compiling it again" in caplog.text
    header_again = json.loads(compiled.read_bytes().split(b"\n", 1)[0])
    assert header_again["format"] == FORMAT  # written afresh
    assert symbol("AAC1", compiled, source) == "NAT1"


def test_an_unwritable_place_still_gives_the_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = table(tmp_path / "genes.tsv.gz", A2M)
    missing = tmp_path / "no such directory" / "hgnc-genes.json"
    with caplog.at_level(logging.WARNING, logger="mme_node.vocabulary.gene_cache"):
        assert symbol("A2M", missing, source) == "A2M"
    assert "not saved" in caplog.text
    assert not missing.parent.exists()
