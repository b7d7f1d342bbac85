"""The match index saved beside the store, so that starting a server does not rebuild it.

Rebuilding the index reads and decodes every stored patient: about a minute
per million. A snapshot is the index as arrays on disk, with the change-log
seq it reflects and the HPO release it was built with; a starting process
memory-maps it (nothing is read until used, and processes on one machine
share the pages) and then applies the changes logged after that seq, as
for any other write (:mod:`.follower`). A snapshot is derived data: one that
is missing, unreadable, of another format or of another release is ignored
and the index is built from the store, then saved again.

Layout of ``<data dir>/match-index/``::

    current                the name of the snapshot in use (replaced atomically)
    s-<seq>-<token>/       one snapshot: meta.json, keys-<partition>.txt, <array>.npy
    lock                   held while a process builds or saves a snapshot

A snapshot holds patient keys (owner and id) and term indices, like the
change log: a deleted patient stays in it until the next save, which a
serving process makes within :data:`SAVE_INTERVAL` of a change and when it
stops; older snapshots are deleted then.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from hpo import Release
from mme_node.durable import sync_directory
from mme_node.matching.index import MatchIndex, Partition, SavedArrays
from mme_node.matching.state import ServingState
from mme_node.model import Consent
from mme_node.security.consent import Reach, reach_of

log = logging.getLogger(__name__)

FORMAT = 1
"""Bumped whenever the saved arrays change meaning; other formats are ignored."""

SAVE_INTERVAL = 60.0
"""Seconds between saves while changes arrive (see :class:`~.follower.ChangeFollower`)."""

PARTITIONS = ("real", "test")


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a saved snapshot reflects: changes through ``seq``, built with ``release_key``."""

    seq: int
    release_key: str
    patients: int
    saved: str
    name: str


@dataclass(frozen=True, slots=True)
class SavedIndex:
    """A copy of a state's index, taken under its lock, to be written without it."""

    partitions: dict[str, tuple[SavedArrays, list[str], list[str]]]
    release_key: str
    seq: int
    reaches: list[Reach]
    default_reach: Reach


class IndexSnapshots:
    """The snapshots of one data directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def latest(self) -> SnapshotInfo | None:
        """The snapshot in use, or None (none saved yet, or unreadable)."""
        try:
            name = (self.directory / "current").read_text(encoding="utf-8").strip()
            meta = json.loads((self.directory / name / "meta.json").read_text(encoding="utf-8"))
            return _info(meta, name)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load(
        self, release: Release, default_consent: Consent
    ) -> tuple[ServingState, SnapshotInfo] | None:
        """A serving state of ``release`` from the latest snapshot, or None if it cannot be used.

        A snapshot saved with another default consent is not used either: it
        decided the reach of the patients stored without one.

        Blocking (call it from a worker thread); costs about a second per
        million patients (the keys), the arrays are mapped, not read.
        """
        for _ in range(3):  # a snapshot replaced while being opened: look again
            info = self.latest()
            if info is None:
                return None
            if info.release_key != release.info.key:
                log.info(
                    "match index snapshot %s is of another HPO release: building the index",
                    info.name,
                )
                return None
            try:
                index = _read_index(self.directory / info.name, release, default_consent)
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.warning(
                    "match index snapshot %s unreadable (%s): building it", info.name, error
                )
                return None
            return ServingState(release, index), info
        return None

    def copy(self, state: ServingState, seq: int) -> SavedIndex:
        """Everything a save writes, copied from ``state`` under its lock (blocking, brief)."""
        with state.lock:
            partitions = {}
            for name in PARTITIONS:
                partition = state.index.partition(name == "test")
                arrays, keys = partition.saved(state.release.similarity)
                partitions[name] = (arrays, keys, list(partition.owner_names))
            reaches = list(state.index.reaches)
        default_reach = reach_of(state.index.default_consent)
        return SavedIndex(partitions, state.release.info.key, seq, reaches, default_reach)

    def save(self, saved: SavedIndex) -> SnapshotInfo:
        """Write ``saved`` as the snapshot in use, then delete the older ones (blocking).

        Written to a new directory, made durable, then named in ``current``
        by an atomic rename: a reader sees the old snapshot or the new one,
        never a part.
        """
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"s-{saved.seq}-{secrets.token_hex(4)}"
        building = self.directory / f".{name}.tmp"
        building.mkdir(mode=0o700)
        patients = 0
        meta: dict[str, Any] = {
            "format": FORMAT,
            "seq": saved.seq,
            "release": saved.release_key,
            "reaches": [_reach_document(reach) for reach in saved.reaches],
            "default_reach": _reach_document(saved.default_reach),
        }
        for partition, (arrays, keys, owners) in saved.partitions.items():
            for array_name, array in arrays.items():
                _write_array(building / f"{partition}.{array_name}.npy", array)
            _write_text(building / f"keys-{partition}.txt", "\n".join(keys))
            meta[partition] = {"rows": len(keys), "owners": owners, "arrays": sorted(arrays)}
            patients += len(keys)
        meta |= {"patients": patients, "saved": datetime.now(UTC).isoformat()}
        _write_text(building / "meta.json", json.dumps(meta))
        sync_directory(building)
        building.rename(self.directory / name)
        pointer = self.directory / ".current.tmp"
        _write_text(pointer, name)
        pointer.rename(self.directory / "current")
        sync_directory(self.directory)
        self._delete_all_but(name)
        return _info(meta, name)

    def acquire(self) -> IO[str]:
        """Wait for the lock one process holds while it builds or saves (blocking)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = (self.directory / "lock").open("a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle

    def release(self, handle: IO[str]) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    def _delete_all_but(self, keep: str) -> None:
        """Older snapshots and abandoned partial ones (a process that mapped one keeps it)."""
        for entry in self.directory.iterdir():
            if entry.is_dir() and entry.name != keep:
                shutil.rmtree(entry, ignore_errors=True)


def _info(meta: dict[str, Any], name: str) -> SnapshotInfo:
    if meta["format"] != FORMAT:
        raise ValueError(f"snapshot format {meta['format']}, not {FORMAT}")
    return SnapshotInfo(
        seq=int(meta["seq"]),
        release_key=str(meta["release"]),
        patients=int(meta["patients"]),
        saved=str(meta["saved"]),
        name=name,
    )


def _read_index(directory: Path, release: Release, default_consent: Consent) -> MatchIndex:
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    if _reach_from(meta["default_reach"]) != reach_of(default_consent):
        raise ValueError("saved with another default consent")
    index = MatchIndex(release.ontology, default_consent)
    index.number_reaches(_reach_from(document) for document in meta["reaches"])
    for name in PARTITIONS:
        part = meta[name]
        text = (directory / f"keys-{name}.txt").read_text(encoding="utf-8")
        keys = text.split("\n") if text else []
        if len(keys) != part["rows"]:
            raise ValueError(f"{name}: {len(keys)} keys for {part['rows']} rows")
        arrays = {
            array: np.load(directory / f"{name}.{array}.npy", mmap_mode="c")
            for array in part["arrays"]
        }
        partition = Partition.from_saved(
            release.ontology, arrays, keys, part["owners"], release.similarity
        )
        setattr(index, name, partition)
    return index


def _reach_document(reach: Reach) -> dict[str, Any]:
    countries = None if reach.countries is None else sorted(reach.countries)
    return {"peers": reach.peers, "countries": countries}


def _reach_from(document: dict[str, Any]) -> Reach:
    countries = document["countries"]
    return Reach(bool(document["peers"]), None if countries is None else frozenset(countries))


def _write_array(path: Path, array: Any) -> None:
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array))
        handle.flush()
        os.fsync(handle.fileno())


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
