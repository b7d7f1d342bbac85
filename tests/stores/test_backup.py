"""Backups of a data directory while it is written: one consistent, private, checked copy."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from store_samples import sample_record

from mme_node.errors import InvalidRequest
from mme_node.stores import SQLitePatientStore
from mme_node.stores.backup import backup_data_dir


def stored_patients(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute("SELECT count(*) FROM patients").fetchone()
    return int(count)


def fill(database: Path, first: int, last: int) -> None:
    async def write() -> None:
        store = SQLitePatientStore(database)
        await store.open()
        try:
            for number in range(first, last):
                await store.save(sample_record(number))
        finally:
            await store.close()

    asyncio.run(write())


def test_backup_while_writing_is_a_consistent_private_copy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    database = data / "mme-node.sqlite3"
    fill(database, 0, 200)
    (data / "peers.toml").write_text("[peers]\n")
    (data / "hpo" / "releases").mkdir(parents=True)
    (data / "hpo" / "ACTIVE").write_text("abc\n")
    (data / "rate-limits.v1-5x32768").write_bytes(b"hashes of addresses")
    writer = threading.Thread(target=fill, args=(database, 200, 600))
    writer.start()
    try:
        report = backup_data_dir(
            data, database, tmp_path / "backup", left_out=[data / "rate-limits"]
        )
    finally:
        writer.join()

    copy = tmp_path / "backup" / "mme-node.sqlite3"
    assert 200 <= stored_patients(copy) <= 600
    assert stored_patients(database) == 600
    assert (tmp_path / "backup" / "peers.toml").read_text() == "[peers]\n"
    assert (tmp_path / "backup" / "hpo" / "ACTIVE").read_text() == "abc\n"
    assert not (tmp_path / "backup" / "mme-node.sqlite3-wal").exists()
    assert not list((tmp_path / "backup").glob("rate-limits*"))
    assert report.other_files == 2 and report.database_bytes == copy.stat().st_size
    assert (tmp_path / "backup").stat().st_mode & 0o777 == 0o700


def test_backup_passes_over_a_file_the_node_deletes_while_it_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    old_index = data / "match-index" / "s-1-ab"
    old_index.mkdir(parents=True)
    (old_index / "meta.json").write_text("{}")
    (data / "peers.toml").write_text("[peers]\n")
    database = data / "mme-node.sqlite3"
    fill(database, 0, 3)
    copy_file = shutil.copy2

    def node_saves_a_new_index_meanwhile(source: Path, target: Path) -> object:
        if source.name == "meta.json":
            shutil.rmtree(old_index)
        return copy_file(source, target)

    monkeypatch.setattr(shutil, "copy2", node_saves_a_new_index_meanwhile)
    report = backup_data_dir(data, database, tmp_path / "backup")

    assert report.other_files == 1
    assert (tmp_path / "backup" / "peers.toml").read_text() == "[peers]\n"
    assert stored_patients(tmp_path / "backup" / "mme-node.sqlite3") == 3


@pytest.mark.parametrize("where", ["non-empty", "inside"])
def test_backup_refuses_a_destination_it_could_spoil(tmp_path: Path, where: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    destination = data / "copy" if where == "inside" else tmp_path / "used"
    if where == "non-empty":
        destination.mkdir()
        (destination / "something").write_text("keep me")
    with pytest.raises(InvalidRequest):
        backup_data_dir(data, data / "mme-node.sqlite3", destination)
    assert where == "inside" or (destination / "something").read_text() == "keep me"
