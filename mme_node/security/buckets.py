"""Token-bucket state shared by every process of a node: a small memory-mapped file.

``mme-node serve --workers N`` runs N processes behind one port, and a
client's connections land on any of them. Limits kept in each process's
memory would let a client have N times its limit; so the buckets live in
``<data dir>/rate-limits``, mapped by every process, each read-modify-write
under an exclusive ``flock`` (and a thread lock: ``flock`` does not exclude
threads sharing one open file).

The file is a fixed table: a header, then for each limiter ``slots`` slots of
(key hash, tokens, time). Keys are kept as 64-bit BLAKE2b hashes (the keys
are client names, addresses and token digests: the file never holds a
token, and is as private as the rest of the data dir). A key may take any of the
:data:`PROBES` slots from its hash on; when all are taken by other keys, the
least recently used of them is forgotten (its key starts again with a full
bucket, the permissive choice). Times are ``time.monotonic()`` seconds, the
same clock in every process of one machine; a time from the future (a file
left from before a reboot) counts as a fresh bucket.

Without a path the table is anonymous memory, private to the process: for
limits that nothing else shares (tests, a node embedded in another program).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import mmap
import os
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

PROBES = 8
"""Slots a key may take, from its hash's slot on."""

_HEADER = struct.Struct("<8sII")
_MAGIC = b"MMERATE1"
_SLOT = struct.Struct("<Qdd")

Bucket = tuple[float, float]
"""A bucket's tokens, and the time they were counted."""

Result = TypeVar("Result")


class BucketFile:
    """``tables`` tables of ``slots`` buckets each, in the file at ``path`` (None: anonymous)."""

    def __init__(self, path: Path | None, tables: int, slots: int) -> None:
        self.tables = tables
        self.slots = slots
        self._lock = threading.Lock()
        size = _HEADER.size + tables * slots * _SLOT.size
        if path is None:
            self._fd = -1
            self._map = mmap.mmap(-1, size)
            self._write_header()
            return
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            with self._exclusive():
                if os.fstat(self._fd).st_size != size:
                    os.ftruncate(self._fd, size)
                self._map = mmap.mmap(self._fd, size)
                if _HEADER.unpack_from(self._map) != (_MAGIC, tables, slots):
                    # Another layout (an older version's file): its buckets mean nothing here.
                    self._map[:] = bytes(size)
                    self._write_header()
        except BaseException:
            os.close(self._fd)
            raise

    def close(self) -> None:
        self._map.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def update(
        self, table: int, key: str, change: Callable[[Bucket | None], tuple[Bucket, Result]]
    ) -> Result:
        """Replace ``key``'s bucket in ``table`` by the first of ``change(bucket)``; return
        the second. ``change`` gets None for a key without a bucket (new, or forgotten).

        Atomic across the node's processes and threads.
        """
        wanted = _hash(key)
        first = _HEADER.size + table * self.slots * _SLOT.size
        with self._lock:
            # Not a context manager: this runs several times per request.
            if self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                place, bucket = self._find(first, wanted)
                (tokens, then), result = change(bucket)
                _SLOT.pack_into(self._map, place, wanted, tokens, then)
            finally:
                if self._fd >= 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        return result

    def _find(self, first: int, wanted: int) -> tuple[int, Bucket | None]:
        """Where ``wanted``'s bucket is, with the bucket, or the slot to give it and None."""
        start = wanted % self.slots
        oldest_place, oldest_time = -1, float("inf")
        for probe in range(min(PROBES, self.slots)):
            place = first + (start + probe) % self.slots * _SLOT.size
            key, tokens, then = _SLOT.unpack_from(self._map, place)
            if key == wanted:
                return place, (tokens, then)
            if key == 0:
                return place, None
            if then < oldest_time:
                oldest_place, oldest_time = place, then
        return oldest_place, None

    def _write_header(self) -> None:
        _HEADER.pack_into(self._map, 0, _MAGIC, self.tables, self.slots)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock:
            if self._fd < 0:
                yield
                return
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


@functools.lru_cache(maxsize=4096)
def _hash(key: str) -> int:
    """A nonzero 64-bit hash of ``key`` (0 marks an empty slot)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1
