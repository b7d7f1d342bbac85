"""Fixtures of tests/hpo: the miniature release of :mod:`tiny_hpo` on disk and compiled."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_hpo import TINY_HPOA, TINY_OBO

from hpo import Release, ReleaseLibrary


@pytest.fixture
def tiny_files(tmp_path: Path) -> Path:
    """A directory holding the miniature ``hp.obo`` and ``phenotype.hpoa``."""
    directory = tmp_path / "tiny-release"
    directory.mkdir()
    (directory / "hp.obo").write_text(TINY_OBO, encoding="utf-8")
    (directory / "phenotype.hpoa").write_text(TINY_HPOA, encoding="utf-8")
    return directory


@pytest.fixture
def tiny_release(tiny_files: Path, tmp_path: Path) -> Release:
    library = ReleaseLibrary(tmp_path / "library")
    library.load(tiny_files)
    return library.active()
