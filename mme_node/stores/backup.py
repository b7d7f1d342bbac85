"""A consistent copy of a data directory, taken while the node runs.

The SQLite database is copied with SQLite's online backup API, page by page
under its own read transaction, so the copy is one committed state even
while the node keeps writing (a plain ``cp`` of a WAL database may copy the
file and its ``-wal`` at different moments). Every other file (``peers.toml``,
keys, compiled HPO releases) is copied as it is, but those the caller leaves
out (the rate limits' buckets: hashes of callers' addresses, worth nothing
in a restore). The copy is checked with
``PRAGMA integrity_check`` before it is reported good, and left as one
self-contained file (rollback journal mode; the node switches a restored
copy back to WAL when it opens it).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mme_node.errors import InvalidRequest, ServiceUnavailable
from mme_node.security.files import create_private_directory
from mme_node.stores.write_gate import gate_path

PAGES_PER_STEP = 1024
"""Pages copied per step: the node's writers are only held off between steps."""
_DATABASE_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class BackupReport:
    destination: Path
    database_bytes: int
    other_files: int


def backup_data_dir(
    data_dir: Path,
    database: Path,
    destination: Path,
    on_progress: Callable[[int, int], None] | None = None,
    left_out: Sequence[Path] = (),
) -> BackupReport:
    """Copy ``data_dir`` into ``destination`` (a new or empty directory, made 0700).

    A file of ``left_out``, or named after one of them (``<name>.<anything>``), is
    not copied.

    ``database`` (inside ``data_dir``) is copied with the online backup API;
    ``on_progress(copied_pages, total_pages)`` is called after each step.
    Raises ``InvalidRequest`` for a destination that holds files or lies
    inside the data directory, ``ServiceUnavailable`` when the copy fails.
    """
    if not data_dir.is_dir():
        raise InvalidRequest(f"data directory {data_dir} does not exist")
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise InvalidRequest(f"backup destination {destination} exists and is not empty")
    if destination.resolve().is_relative_to(data_dir.resolve()):
        raise InvalidRequest("the backup destination must be outside the data directory")
    create_private_directory(destination)
    copied = 0
    for path in sorted(data_dir.rglob("*")):
        if (
            path == database
            or _is_companion(path, database)
            or _is_left_out(path, left_out)
            or not path.is_file()
        ):
            continue
        target = destination / path.relative_to(data_dir)
        create_private_directory(target.parent)
        try:
            shutil.copy2(path, target)
        except FileNotFoundError:
            # Gone since listed: a running node replaced its saved match index (every
            # minute while changes arrive) and deleted the older one, which it rebuilds.
            continue
        copied += 1
    copy = destination / database.relative_to(data_dir)
    if database.exists():
        _backup_database(database, copy, on_progress)
    return BackupReport(destination, copy.stat().st_size if copy.exists() else 0, copied)


def _is_companion(path: Path, database: Path) -> bool:
    """SQLite's files beside the database, and its write gate: none is part of the copy."""
    return path == gate_path(database) or any(
        path.name == database.name + suffix for suffix in _DATABASE_COMPANIONS
    )


def _is_left_out(path: Path, left_out: Sequence[Path]) -> bool:
    return any(
        path.parent == base.parent and path.name.split(".")[0] == base.name for base in left_out
    )


def _backup_database(
    source_path: Path, copy_path: Path, on_progress: Callable[[int, int], None] | None
) -> None:
    def progress(status: int, remaining: int, total: int) -> None:
        if on_progress is not None:
            on_progress(total - remaining, total)

    try:
        source = sqlite3.connect(source_path)
        try:
            copy = sqlite3.connect(copy_path)
            try:
                source.backup(copy, pages=PAGES_PER_STEP, progress=progress)
                # One self-contained file (no -wal beside it); the node turns WAL back on.
                copy.execute("PRAGMA journal_mode = DELETE")
                (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
            finally:
                copy.close()
        finally:
            source.close()
    except sqlite3.Error as error:
        raise ServiceUnavailable(f"cannot back up {source_path}: {error}") from error
    if verdict != "ok":
        raise ServiceUnavailable(f"the copy of {source_path} failed its integrity check: {verdict}")
