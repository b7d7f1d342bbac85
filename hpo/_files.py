"""Reading release files whatever their compression, and their checksums.

Compression is recognised by the file's magic bytes, not its name, so a
renamed file still opens; a truncated archive raises :class:`ReleaseError`
instead of silently yielding half a file.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

from hpo.errors import ReleaseError

CHUNK = 1 << 20


@contextmanager
def open_binary(path: Path) -> Iterator[IO[bytes]]:
    """Open ``path`` for reading its decompressed bytes (gzip, xz, bzip2 or plain)."""
    try:
        raw = path.open("rb")
    except OSError as error:
        raise ReleaseError(f"cannot read {path}: {error.strerror or error}") from error
    with raw:
        head = raw.read(8)
        raw.seek(0)
        with _decompressing(raw, head) as stream:
            yield stream


def _decompressing(raw: IO[bytes], head: bytes) -> IO[bytes]:
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw))
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(IO[bytes], lzma.LZMAFile(raw))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.BZ2File(raw))
    return raw


def iter_lines(path: Path) -> Iterator[str]:
    """The decompressed text lines of ``path`` (UTF-8), without line endings."""
    with open_binary(path) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        try:
            for line in text:
                yield line.rstrip("\r\n")
        except (EOFError, OSError, lzma.LZMAError, UnicodeDecodeError) as error:
            raise ReleaseError(f"{path.name} is damaged or truncated: {error}") from error


def content_sha256(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """SHA-256 of the decompressed content, so ``hp.obo`` and ``hp.obo.gz`` agree.

    Reading the whole stream also verifies the archive: a truncated or
    corrupt file raises :class:`ReleaseError`. ``progress`` receives the
    number of decompressed bytes read so far.
    """
    digest = hashlib.sha256()
    done = 0
    try:
        with open_binary(path) as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done)
    except (EOFError, OSError, lzma.LZMAError) as error:
        raise ReleaseError(f"{path.name} is damaged or truncated: {error}") from error
    return digest.hexdigest()
