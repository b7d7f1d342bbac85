"""The operator's sharing policy: who each caller and each peer is, as a :class:`Recipient`.

The peer registry (``peers.toml``, ``mme-node peers policy``) gives each peer a
country and the most it may be shown. A peer calling our ``/match`` is known by
its ``peer`` token: the registered peer whose ``inbound_token_name`` is the
token's client name (or, failing that, the peer of that name) lends it its
policy. A caller the registry does not know gets no country (so only patients
consenting to every peer are matched for it) and the node's
``peer_default_disclosure``, like a registered peer without a level of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from mme_node.model import Consent, DisclosureLevel, MatchResult, PatientRecord
from mme_node.peers import Peer, PeerRegistry
from mme_node.security.consent import consent_of, reach_of
from mme_node.security.disclosure import (
    Disclosure,
    OutboundQuery,
    Recipient,
    disclosed,
)
from mme_node.security.pseudonyms import Pseudonyms


@dataclass(frozen=True)
class SharingPolicy:
    """The default consent of patients, the policy for every recipient, and what it is shown."""

    registry: PeerRegistry
    default_consent: Consent
    peer_default_disclosure: DisclosureLevel
    pseudonyms: Pseudonyms

    def consent_of(self, record: PatientRecord) -> Consent:
        return consent_of(record, self.default_consent)

    def caller(self, client_name: str) -> Recipient:
        """The recipient of our answer to a ``/match`` made with ``client_name``'s token."""
        peer = self.registry.for_caller(client_name)
        if peer is None:
            return Recipient(client_name, None, self.peer_default_disclosure)
        return self.peer(peer)

    def peer(self, peer: Peer) -> Recipient:
        """The recipient of our own match request to ``peer``."""
        return Recipient(
            peer.name, peer.country, peer.max_disclosure or self.peer_default_disclosure
        )

    def submitter(self, owner: str) -> Recipient:
        """A submitter of this node, shown other owners' patients by a local match."""
        return Recipient(owner, local=True)

    def may_see(self, recipient: Recipient, record: PatientRecord) -> bool:
        """Whether ``record``'s consent lets ``recipient`` be shown it at all."""
        scope = recipient.scope
        return scope is None or scope.reaches(reach_of(self.consent_of(record)))

    def disclose(self, result: MatchResult, recipient: Recipient) -> Disclosure:
        """``result`` as ``recipient`` may see it (its owner sees its own patient whole)."""
        record = result.record
        if recipient.owns(record):
            return Disclosure(result, recipient, DisclosureLevel.VARIANTS, record.patient.id)
        level = recipient.level_for(self.consent_of(record))
        shown_as = self.pseudonyms.pseudonym(recipient.audience, *record.key)
        return Disclosure(result, recipient, level, shown_as)

    def outbound_query(self, record: PatientRecord, recipient: Recipient) -> OutboundQuery:
        """``record`` as our match request to ``recipient`` carries it."""
        level = recipient.level_for(self.consent_of(record))
        shown_as = self.pseudonyms.pseudonym(recipient.audience, *record.key)
        return OutboundQuery(recipient, level, shown_as, disclosed(record.patient, level, shown_as))
