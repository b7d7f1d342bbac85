"""Keyed identifiers: the pseudonym each recipient sees for a patient, and audit subjects.

A peer never sees a submitter's own patient id. It sees a pseudonym, the keyed
HMAC-SHA256 of (recipient, owner, patient id) under the node's key
(:mod:`mme_node.security.keys`): stable for that peer across requests (it can
tell a patient it saw before), different for every other peer (two peers
cannot join their answers on our ids), and meaningless without the key. The
audit log names patients by a second keyed digest of (owner, patient id), the
*subject*, so it holds no direct identifier and still answers "who saw this
patient?" for someone who knows the id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path

from mme_node.security.keys import NodeKey

_HEX_DIGITS = 32
_LOWER_HEX = frozenset("0123456789abcdef")

DIGESTS_KEPT = 65_536
"""Pseudonyms and subjects remembered per process (about 10 MB at most)."""


class Pseudonyms:
    """Pseudonyms and audit subjects under one :class:`NodeKey`."""

    def __init__(self, key: NodeKey) -> None:
        self.key = key
        # A match answer takes two digests per result, and peers are shown the same
        # good matches again and again: recent ones are remembered (deterministic values).
        self._digest: Callable[..., str] = functools.lru_cache(maxsize=DIGESTS_KEPT)(self._compute)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Pseudonyms:
        return cls(NodeKey.in_data_dir(data_dir))

    def pseudonym(self, recipient: str, owner: str, patient_id: str) -> str:
        """The id ``recipient`` sees for ``owner``'s patient ``patient_id``: 32 hex digits."""
        return self._digest("pseudonym", recipient, owner, patient_id)

    @staticmethod
    def could_be(text: str) -> bool:
        """Whether ``text`` has the form of a pseudonym (32 lower-case hex digits)."""
        return len(text) == _HEX_DIGITS and all(c in _LOWER_HEX for c in text)

    def subject(self, owner: str, patient_id: str) -> str:
        """How the audit log names ``owner``'s patient ``patient_id``: 32 hex digits."""
        return self._digest("subject", owner, patient_id)

    def find_subject(self, subject: str, owner: str, patient_ids: Iterable[str]) -> str | None:
        """The one of ``owner``'s ``patient_ids`` whose audit subject is ``subject``, if any.

        For an erasure announced by subject (the change feed): the candidates'
        digests are computed afresh (a few microseconds each), so a scan of a
        whole index does not push the remembered answers' digests out.
        """
        digests = self.key.digests_ending("subject", [owner], patient_ids, _HEX_DIGITS)
        return next((patient_id for patient_id, digest in digests if digest == subject), None)

    def _compute(self, purpose: str, *parts: str) -> str:
        return self.key.digest(purpose, *parts, hex_digits=_HEX_DIGITS)
