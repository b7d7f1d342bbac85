"""uvicorn's options from the settings, and the file-descriptor budget they must fit."""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from typing import Any

from mme_node.settings import Settings

log = logging.getLogger(__name__)

RESERVED_DESCRIPTORS = 64
"""Kept for the database, logs, the HPO release and outbound connections to peers."""


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines (seconds) and caps each connection is held to (see :mod:`.protocol`)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 32 * 1024
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings, descriptors: int) -> ConnectionLimits:
        """The settings' limits, with at most ``descriptors`` - reserve connections."""
        return cls(
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            max_header_bytes=settings.max_header_bytes,
            max_connections=max(
                1, min(settings.max_connections, descriptors - RESERVED_DESCRIPTORS)
            ),
        )


def raise_descriptor_limit() -> int:
    """Lift the soft open-files limit to the hard one; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass  # keep the soft limit; max_connections is fitted to it
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


WORKER_PROTOCOL = "mme_node.server.worker_protocol:WorkerProtocol"
"""The guarded protocol by import path, for worker processes (see :mod:`.worker_protocol`)."""


def server_options(settings: Settings, *, in_workers: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``: deadlines, limits, proxies.

    ``in_workers``: for uvicorn's worker processes, which import the protocol
    by name and build its limits from the ``MME_*`` variables themselves.
    """
    from mme_node.server.protocol import guarded_protocol  # imports uvicorn's internals

    limits = ConnectionLimits.from_settings(settings, raise_descriptor_limit())
    if limits.max_connections < settings.max_connections:
        log.warning(
            "max_connections lowered to %d to fit the open-files limit; raise `ulimit -n`",
            limits.max_connections,
        )
    return {
        "http": WORKER_PROTOCOL if in_workers else guarded_protocol(limits),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.trusted_proxies,
    }
