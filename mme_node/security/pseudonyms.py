"""Keyed identifiers: the pseudonym each recipient sees for a patient, and audit subjects.

A peer never sees a submitter's own patient id. It sees a pseudonym, the keyed
HMAC-SHA256 of (recipient, owner, patient id) under a secret key of this node:
stable for that peer across requests (it can tell a patient it saw before),
different for every other peer (two peers cannot join their answers on our
ids), and meaningless without the key. The audit log names patients by a
second keyed hash of (owner, patient id), the *subject*, so it holds no
direct identifier and still answers "who saw this patient?" for someone who
knows the id.

The key is 32 random bytes, kept hex-encoded in ``pseudonym.key`` in the data
directory, created with mode 0600 on first use. Back it up with the database:
without it the pseudonyms peers hold and the audit subjects cannot be
recomputed.
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
from pathlib import Path

from mme_node.errors import ServiceUnavailable

KEY_FILE = "pseudonym.key"
_KEY_BYTES = 32
_PSEUDONYM_BYTES = 16

log = logging.getLogger(__name__)


class Pseudonyms:
    """Pseudonyms and audit subjects under the key in ``key_path`` (read once, created once)."""

    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self._key: bytes | None = None
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Pseudonyms:
        return cls(data_dir / KEY_FILE)

    def pseudonym(self, recipient: str, owner: str, patient_id: str) -> str:
        """The id ``recipient`` sees for ``owner``'s patient ``patient_id``: 32 hex digits."""
        return self._digest(b"pseudonym", recipient, owner, patient_id)

    def subject(self, owner: str, patient_id: str) -> str:
        """How the audit log names ``owner``'s patient ``patient_id``: 32 hex digits."""
        return self._digest(b"subject", owner, patient_id)

    def _digest(self, purpose: bytes, *parts: str) -> str:
        # NUL-separated with a purpose prefix: no two different inputs share a message,
        # and a pseudonym can never equal a subject.
        message = b"\0".join([purpose, *(p.encode("utf-8", "surrogatepass") for p in parts)])
        return hmac.new(self._secret(), message, hashlib.sha256).hexdigest()[: 2 * _PSEUDONYM_BYTES]

    def _secret(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = _read_or_create(self.key_path)
        return self._key


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
            os.write(descriptor, (secrets.token_hex(_KEY_BYTES) + "\n").encode("ascii"))
            os.fsync(descriptor)
            os.close(descriptor)
            os.link(temporary, path)
            log.info("created the pseudonym key %s (mode 0600): back it up with the database", path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            Path(temporary).unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as error:
        raise ServiceUnavailable(f"cannot read the pseudonym key {path}: {error}") from error
    if len(key) != _KEY_BYTES:
        raise ServiceUnavailable(
            f"the pseudonym key {path} does not hold {_KEY_BYTES} bytes; restore it from backup"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the pseudonym key %s is readable by others; chmod 600 it", path)
    return key
