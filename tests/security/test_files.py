"""The data directory is private: created 0700, loose permissions found and warned about."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mme_node.app import create_app
from mme_node.security.files import (
    create_private_directory,
    loose_permissions,
    permission_warning,
)
from mme_node.settings import Settings


@pytest.fixture
def lax_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_data_directory_is_0700_whatever_the_umask(tmp_path: Path, lax_umask: None) -> None:
    data = tmp_path / "a" / "data"
    create_private_directory(data)
    assert data.stat().st_mode & 0o777 == 0o700


def test_files_and_directories_open_to_others_are_found(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "hpo").mkdir(parents=True)
    data.chmod(0o700)
    (data / "hpo").chmod(0o755)
    (data / "mme-node.sqlite3").write_bytes(b"")
    (data / "mme-node.sqlite3").chmod(0o644)
    (data / "peers.toml").write_text("")
    (data / "peers.toml").chmod(0o600)
    (data / "link").symlink_to(data / "peers.toml")
    assert sorted(loose_permissions(data)) == [data / "hpo", data / "mme-node.sqlite3"]
    warning = permission_warning(data)
    assert warning is not None
    assert "mme-node.sqlite3 (644)" in warning and f"chmod -R go-rwx {data}" in warning


def test_a_private_directory_gets_no_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_private_directory(data)
    (data / "peers.toml").write_text("")
    (data / "peers.toml").chmod(0o600)
    assert permission_warning(data) is None


def test_start_up_warns_about_a_data_dir_open_to_others(
    node_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    node_settings.data_dir.mkdir(parents=True)
    node_settings.data_dir.chmod(0o755)
    with caplog.at_level(logging.WARNING), TestClient(create_app(node_settings)):
        pass
    warnings = [r.getMessage() for r in caplog.records if "open to other users" in r.getMessage()]
    assert len(warnings) == 1
    assert f"chmod -R go-rwx {node_settings.data_dir}" in warnings[0]
