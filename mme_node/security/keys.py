"""The node's secret key: keyed digests for pseudonyms, audit subjects and the audit chain.

The key is 32 random bytes, kept hex-encoded in ``node.key`` in the data
directory, created with mode 0600 on first use (by whichever process needs it
first; every other process reads the same key). It never leaves the node.
Back it up with the database: without it the pseudonyms peers hold, the
audit subjects and the audit chain cannot be recomputed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from mme_node.errors import ServiceUnavailable

KEY_FILE = "node.key"
_KEY_BYTES = 32

log = logging.getLogger(__name__)


class NodeKey:
    """Keyed digests (HMAC-SHA256) under the key in ``path``, read once, created once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> NodeKey:
        return cls(data_dir / KEY_FILE)

    def digest(self, purpose: str, *parts: str, hex_digits: int = 64) -> str:
        """The keyed digest of ``parts`` for ``purpose``, as ``hex_digits`` hex digits.

        Parts are NUL-separated after the purpose, so no two different inputs
        (nor two purposes) share a message.
        """
        message = b"\0".join(_encoded(p) for p in (purpose, *parts))
        return hmac.new(self._secret(), message, hashlib.sha256).hexdigest()[:hex_digits]

    def digests_ending(
        self, purpose: str, parts: Sequence[str], lasts: Iterable[str], hex_digits: int = 64
    ) -> Iterator[tuple[str, str]]:
        """``(last, digest(purpose, *parts, last))`` for each of ``lasts``.

        The common start of the messages is hashed once: about twice as fast
        as :meth:`digest` per value when scanning many (an erasure's subject
        looked for among an owner's patients).
        """
        digest = self.digester(purpose, *parts, hex_digits=hex_digits)
        for last in lasts:
            yield last, digest(last)

    def digester(self, purpose: str, *parts: str, hex_digits: int = 64) -> Callable[..., str]:
        """A function of one or more further parts: ``digester(purpose, *parts)(*more)``
        is ``digest(purpose, *parts, *more)``.

        The common start is hashed once, so each call costs about half a
        :meth:`digest`: for many digests of one purpose in a row (the audit
        chain, a hash per entry).
        """
        start = hmac.new(self._secret(), digestmod=hashlib.sha256)
        start.update(b"".join(_encoded(p) + b"\0" for p in (purpose, *parts)))

        def digest(*more: str) -> str:
            hashed = start.copy()
            hashed.update(_encoded("\0".join(more)))
            return hashed.hexdigest()[:hex_digits]

        return digest

    def _secret(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = _read_or_create(self.path)
        return self._key


def _encoded(part: str) -> bytes:
    return part.encode("utf-8", "surrogatepass")


def _read_or_create(path: Path) -> bytes:
    """The key in ``path``, created (0600, durable) if there is none; safe between processes.

    A new key is written whole to a private temporary file and then linked
    into place, so another process never reads a half-written key: the
    first link wins and every process reads that key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(_KEY_BYTES) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
            log.info("created the node key %s (mode 0600): back it up with the database", path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            Path(temporary).unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as error:
        raise ServiceUnavailable(f"cannot read the node key {path}: {error}") from error
    if len(key) != _KEY_BYTES:
        raise ServiceUnavailable(
            f"the node key {path} does not hold {_KEY_BYTES} bytes; restore it from backup"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the node key %s is readable by others; chmod 600 it", path)
    return key
