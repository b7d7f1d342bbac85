"""Token-bucket state shared by every process of a node: a small memory-mapped file.

``mme-node serve --workers N`` runs N processes behind one port, and a
client's connections land on any of them. Limits kept in each process's
memory would let a client have N times its limit; so the buckets live in
one file in the data dir, mapped by every serving process, each
read-modify-write under an exclusive ``flock`` (and a thread lock: ``flock``
does not exclude threads sharing one open file). One machine only: the
processes share the file's pages and their monotonic clock.

The file is a fixed table: a header, then for each limiter ``slots`` slots of
(key hash, tokens, time). Its name carries its layout (:func:`layout_path`),
so that versions with another layout never map one file two ways. Keys are
kept as 64-bit BLAKE2b hashes; an address can be found again from its hash by
trying them all, so the file is as private as the rest of the data dir, and
backups leave it out. A key may take any of :data:`PROBES` slots from its
hash's slot on; when all are taken by other keys, the least recently used of
them is forgotten (the new key starts with a full bucket, the permissive
choice). Times are ``time.monotonic()`` seconds, which restart at each boot:
the header holds the boot's id, and a file from another boot (or another
machine's backup) starts empty. A slot holding anything but finite numbers
counts as free.

Without a path the table is anonymous memory used by one process alone:
for limits nothing else shares (the command line, tests).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import math
import mmap
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

PROBES = 16
"""Slots a key may take, from its hash's slot on."""

_VERSION = 1
_HEADER = struct.Struct("<8sII16s")
"""Magic, tables, slots, boot id."""
_MAGIC = b"MMERATE\0"
_SLOT = struct.Struct("<Qdd")
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

Bucket = tuple[float, float]
"""A bucket's tokens, and the time they were counted."""

Result = TypeVar("Result")


def layout_path(base: Path, tables: int, slots: int) -> Path:
    """The file of ``tables`` x ``slots`` buckets beside ``base``: its name says its layout."""
    return base.with_name(f"{base.name}.v{_VERSION}-{tables}x{slots}")


class BucketFile:
    """``tables`` tables of ``slots`` buckets each, in the file at ``path`` (None: anonymous).

    The file is created 0600, or joined when another process of the node
    made it; once closed, every update counts as a fresh bucket (a request
    still running when the node stops is not refused for that).
    """

    def __init__(self, path: Path | None, tables: int, slots: int) -> None:
        self.tables = tables
        self.slots = slots
        self._lock = threading.Lock()
        self._closed = False
        self._fd = -1
        size = _HEADER.size + tables * slots * _SLOT.size
        if path is None:
            self._map = mmap.mmap(-1, size)
            self._write_header()
            return
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            if os.fstat(self._fd).st_size < size:  # new: never shrunk under another's map
                os.ftruncate(self._fd, size)
            self._map = mmap.mmap(self._fd, size)
            if _HEADER.unpack_from(self._map) != self._header():
                # New, damaged, or from another boot: its times mean nothing now.
                self._map[:] = bytes(size)
                self._write_header()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(self._fd)
            raise

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._map.close()
            if self._fd >= 0:
                os.close(self._fd)

    def update(
        self, table: int, key: str, change: Callable[[Bucket | None], tuple[Bucket | None, Result]]
    ) -> Result:
        """Give ``key``'s bucket in ``table`` to ``change``; store the bucket it returns
        (None: leave the table as it was) and return its result.

        ``change`` gets None for a key without a bucket (new, or forgotten).
        Atomic across the node's processes and threads.
        """
        wanted = _hash(key)
        first = _HEADER.size + table * self.slots * _SLOT.size
        with self._lock:
            if self._closed:
                return change(None)[1]
            # flock by hand, not in a context manager: this runs several times per request.
            if self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                place, bucket = self._find(first, wanted)
                stored, result = change(bucket)
                if stored is not None:
                    _SLOT.pack_into(self._map, place, wanted, *stored)
            finally:
                if self._fd >= 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        return result

    def _find(self, first: int, wanted: int) -> tuple[int, Bucket | None]:
        """Where ``wanted``'s bucket is, with the bucket; or the slot to give it, and None."""
        start = wanted % self.slots
        oldest_place, oldest_time = first + start * _SLOT.size, math.inf
        for probe in range(min(PROBES, self.slots)):
            place = first + (start + probe) % self.slots * _SLOT.size
            key, tokens, then = _SLOT.unpack_from(self._map, place)
            if not (math.isfinite(tokens) and math.isfinite(then)):
                key = 0  # garbage: a free slot
            if key == wanted:
                return place, (tokens, then)
            if key == 0:
                return place, None
            if then < oldest_time:
                oldest_place, oldest_time = place, then
        return oldest_place, None

    def _header(self) -> tuple[bytes, int, int, bytes]:
        return _MAGIC, self.tables, self.slots, _boot_id()

    def _write_header(self) -> None:
        _HEADER.pack_into(self._map, 0, *self._header())


@functools.cache
def _boot_id() -> bytes:
    """This boot's id (16 bytes), the epoch of ``time.monotonic()``; zeros if unknown."""
    try:
        return bytes.fromhex(_BOOT_ID.read_text().strip().replace("-", ""))[:16]
    except (OSError, ValueError):
        return bytes(16)


@functools.lru_cache(maxsize=4096)
def _hash(key: str) -> int:
    """A nonzero 64-bit hash of ``key`` (0 marks an empty slot)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1
