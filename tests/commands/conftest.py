"""Fixtures of the command-line tests: a node's data dir, set as a user would set it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def cli_data_dir(tmp_path: Path, shared_hpo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data dir in ``MME_DATA_DIR`` (nothing created yet), the shared HPO cache,
    and no other ``MME_*`` variable from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("MME_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MME_HPO_DIR_OVERRIDE", str(shared_hpo_dir))
    monkeypatch.setenv("MME_DATA_DIR", str(tmp_path / "node-a"))
    return tmp_path / "node-a"
