"""``mme-node hpo``: load, list, info and search, run in-process through the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mme_node.cli import main

MINI_OBO = """format-version: 1.2
data-version: hp/releases/2024-06-01

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000118
name: Phenotypic abnormality
is_a: HP:0000001

[Term]
id: HP:0001250
name: Seizure
is_a: HP:0000118
"""

MINI_HPOA = (
    "#version: 2024-06-01\n"
    "database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency"
    "\tsex\tmodifier\taspect\tbiocuration\n"
    "OMIM:1\tOne\t\tHP:0001250\tPMID:1\tPCS\t\t\t\t\tP\tHPO:test\n"
    "OMIM:2\tTwo\t\tHP:0000118\tPMID:1\tPCS\t\t\t\t\tP\tHPO:test\n"
)


@pytest.fixture
def data_dir(tmp_path: Path, shared_hpo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh node whose own HPO library starts as a copy of the session's compiled one."""
    library = tmp_path / "hpo"
    shutil.copytree(shared_hpo_dir, library)
    monkeypatch.setenv("MME_DATA_DIR", str(tmp_path / "node"))
    monkeypatch.setenv("MME_HPO_DIR_OVERRIDE", str(library))
    return tmp_path / "node"


@pytest.fixture
def shared_library(shared_hpo_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A node using the session's compiled bundled release (read-only commands only)."""
    monkeypatch.setenv("MME_DATA_DIR", str(tmp_path / "node"))
    monkeypatch.setenv("MME_HPO_DIR_OVERRIDE", str(shared_hpo_dir))
    return shared_hpo_dir


@pytest.fixture
def mini_release(tmp_path: Path) -> Path:
    directory = tmp_path / "release"
    directory.mkdir()
    (directory / "hp.obo").write_text(MINI_OBO, encoding="utf-8")
    (directory / "phenotype.hpoa").write_text(MINI_HPOA, encoding="utf-8")
    return directory


def test_info_starts_with_the_version_and_counts_terms(
    shared_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "2025-01-16" in lines[0]
    assert "terms: 19034" in lines
    assert any(
        "6b77de067eecc838319ce7650ed5bab0f92a502eabb160e6bc7c0238bc1548c5" in line for line in lines
    )
    assert any(line.startswith("annotations: 270991") for line in lines)
    assert any("Human Phenotype Ontology (version 2025-01-16)" in line for line in lines)


def node_release(capsys: pytest.CaptureFixture[str]) -> str:
    """The version ``hpo info`` names first (the node's release)."""
    capsys.readouterr()
    assert main(["hpo", "info"]) == 0
    return capsys.readouterr().out.splitlines()[0].split()[2]


def test_load_prints_version_and_counts_and_activates(
    data_dir: Path, mini_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "load", str(mini_release)]) == 0
    out = capsys.readouterr().out
    assert "2024-06-01" in out.splitlines()[0]
    assert "terms: 3" in out and "annotations: 2 (2 diseases)" in out
    assert "information content: from the release's own annotations" in out
    assert "HPO release 2024-06-01 is now active (was 2025-01-16" in out
    assert node_release(capsys) == "2024-06-01"


def test_load_accepts_the_files_themselves(
    data_dir: Path, mini_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["hpo", "load", str(mini_release / "hp.obo"), str(mini_release / "phenotype.hpoa")])
    assert code == 0
    assert "terms: 3" in capsys.readouterr().out


def test_loading_the_active_release_again_changes_nothing(
    data_dir: Path, mini_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "load", str(mini_release)]) == 0
    capsys.readouterr()
    assert main(["hpo", "load", str(mini_release)]) == 0
    out = capsys.readouterr().out
    assert "(already compiled)" in out and "is already active; nothing to do." in out


def test_an_ontology_alone_borrows_annotations_and_says_so(
    data_dir: Path, mini_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "load", str(mini_release / "hp.obo")]) == 0
    out = capsys.readouterr().out
    assert "from the annotations of HPO release 2025-01-16 (borrowed" in out
    main(["hpo", "info"])
    assert "information content: annotations, from the annotations of HPO release 2025-01-16" in (
        capsys.readouterr().out
    )


def test_an_ontology_alone_with_structural_ic_only_when_asked(
    data_dir: Path, mini_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "load", "--structural-ic", str(mini_release / "hp.obo")]) == 0
    assert "information content: structure-based" in capsys.readouterr().out


def test_load_of_a_damaged_file_fails_in_one_line_and_keeps_the_active_release(
    data_dir: Path, mini_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "load", str(mini_release)]) == 0
    damaged = tmp_path / "hp.obo"
    damaged.write_text(MINI_OBO[: MINI_OBO.index("name: Seizure") + 9], encoding="utf-8")
    capsys.readouterr()

    code = main(["hpo", "load", str(damaged)])

    captured = capsys.readouterr()
    assert code != 0
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("error: ")
    assert node_release(capsys) == "2024-06-01"


def test_activate_goes_back_and_history_lists_every_switch(
    data_dir: Path, mini_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "load", str(mini_release)]) == 0
    assert main(["hpo", "activate", "2025-01-16"]) == 0
    assert "HPO release 2025-01-16 is now active (was 2024-06-01" in capsys.readouterr().out
    assert node_release(capsys) == "2025-01-16"
    assert main(["hpo", "history"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[2] for row in rows] == ["2025-01-16", "2024-06-01"]
    assert all("command line" in row for row in rows)


def test_activate_of_an_unknown_release_names_the_compiled_ones(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "activate", "2031-01-01"]) == 1
    assert "no compiled HPO release '2031-01-01' (compiled: 2025-01-16)" in capsys.readouterr().err


def test_list_marks_the_nodes_release(
    data_dir: Path, mini_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["hpo", "load", str(mini_release)])
    main(["hpo", "load", "--structural-ic", str(mini_release / "hp.obo")])
    capsys.readouterr()
    assert main(["hpo", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 3  # the bundled release and the two loaded
    active = [row for row in rows if row.startswith("*")]
    assert len(active) == 1 and "structure" in active[0]


def test_search_prints_matching_terms(
    shared_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "search", "seizure", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("HP:0001250  Seizure")
    assert len(lines) == 3


def test_search_without_match_says_so(
    shared_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpo", "search", "zzzqqq"]) == 1
    assert "No matching term" in capsys.readouterr().out


@pytest.mark.parametrize("content", ["{}", '{"graphs": []}', '{"graphs": [{"edges": []}]}', "[1]"])
def test_load_of_a_json_file_that_is_not_obographs_fails_in_one_line(
    data_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], content: str
) -> None:
    broken = tmp_path / "hp.json"
    broken.write_text(content, encoding="utf-8")

    code = main(["hpo", "load", str(broken)])

    # capfd sees the file descriptors: a Rust panic message would show here too.
    error = capfd.readouterr().err.strip()
    assert code != 0
    assert error.startswith("error: hp.json is not")
    assert len(error.splitlines()) == 1
