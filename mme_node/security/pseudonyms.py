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

from pathlib import Path

from mme_node.security.keys import NodeKey

_HEX_DIGITS = 32


class Pseudonyms:
    """Pseudonyms and audit subjects under one :class:`NodeKey`."""

    def __init__(self, key: NodeKey) -> None:
        self.key = key

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Pseudonyms:
        return cls(NodeKey.in_data_dir(data_dir))

    def pseudonym(self, recipient: str, owner: str, patient_id: str) -> str:
        """The id ``recipient`` sees for ``owner``'s patient ``patient_id``: 32 hex digits."""
        return self.key.digest("pseudonym", recipient, owner, patient_id, hex_digits=_HEX_DIGITS)

    def subject(self, owner: str, patient_id: str) -> str:
        """How the audit log names ``owner``'s patient ``patient_id``: 32 hex digits."""
        return self.key.digest("subject", owner, patient_id, hex_digits=_HEX_DIGITS)
