"""Federation: the peers we query and outbound matching against them.

:class:`PeerRegistry` keeps the peers (``peers.toml`` in the data directory);
:func:`match_peers` sends one patient to many peers at once and returns one
:class:`PeerOutcome` per peer; a :class:`CircuitBreaker` owned by the caller
makes repeatedly failing peers be skipped for a while.
"""

from mme_node.peers.breaker import CircuitBreaker
from mme_node.peers.client import (
    DEFAULT_MAX_RESPONSE_BYTES,
    PeerError,
    PeerErrorKind,
    PeerOutcome,
    RemoteMatch,
    RetryPolicy,
    ask_peer,
    match_request_body,
    media_type,
)
from mme_node.peers.fanout import match_peers
from mme_node.peers.registry import (
    REGISTRY_FILE,
    Peer,
    PeerRegistry,
    RegistryFileError,
    validate_base_url,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "REGISTRY_FILE",
    "CircuitBreaker",
    "Peer",
    "PeerError",
    "PeerErrorKind",
    "PeerOutcome",
    "PeerRegistry",
    "RegistryFileError",
    "RemoteMatch",
    "RetryPolicy",
    "ask_peer",
    "match_peers",
    "match_request_body",
    "media_type",
    "validate_base_url",
]
