"""How the Elasticsearch store sends its requests: deadlines, retries, backoff.

Three kinds of request, three policies, all on one client
(elasticsearch-py 8.x ``client.options()`` sets ``request_timeout``,
``max_retries``, ``retry_on_timeout`` and ``retry_on_status`` per call):

- **Reads** (get, mget, search, count, aliases, settings) are idempotent: the
  transport retries them after a timeout, a dropped connection, 429 or 502-504.
- **Document writes** are sent exactly once by the transport. The elastic
  transport retries a connection error whatever ``retry_on_timeout`` says
  (``elastic_transport`` ``AsyncTransport.perform_request``), and a write whose
  answer was lost may have been applied; so the store retries by itself, only
  after 429 or 503 (Elasticsearch did nothing) or after reading the document
  back (see :mod:`mme_node.stores.elastic.writes`), with :class:`Backoff`.
- **Cluster changes** (add a block, move aliases, create or delete an index)
  are sent once, with Elasticsearch's own deadlines (``master_timeout``,
  ``timeout``) below the client's, so that Elasticsearch answers, even if only
  "not acknowledged", before the client gives up; an unanswered change is
  settled by reading what the cluster holds.

Scans (scroll searches) are never retried: the server advances a scroll even
when its answer is lost, and asking again would skip a page.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import BaseNode, ConnectionTimeout, HttpxAsyncHttpNode, TlsError
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, AsyncElasticsearch

REQUEST_TIMEOUT = 10.0
"""Seconds before the client abandons an ordinary request."""

READ_RETRIES = 2
"""Further attempts of a read after a timeout, a dropped connection, 429 or 502-504."""

HEALTH_TIMEOUT = 3.0
"""``/heartbeat`` must answer quickly even when Elasticsearch does not."""

SHARD_WAIT = "5s"
"""Elasticsearch's ``timeout`` on document writes: how long it waits for an unavailable
primary shard before answering 503. Below :data:`REQUEST_TIMEOUT`, so that a missing
shard gets a clear "not done" rather than a silence that might mean "done"."""

MASTER_TIMEOUT = "30s"
"""Elasticsearch's ``master_timeout`` on cluster changes (its default)."""

ACK_TIMEOUT = "30s"
"""Elasticsearch's ``timeout`` on cluster changes: how long it waits for every node
to apply a change (the change stays applied if they are late) and, for add-block,
for every shard to finish the writes in flight (its default)."""

CLUSTER_CHANGE_TIMEOUT = 90.0
"""Seconds the client waits for a cluster change: above :data:`MASTER_TIMEOUT` plus
:data:`ACK_TIMEOUT` (waited one after the other), so Elasticsearch answers first."""

SCAN_TIMEOUT = 30.0
"""Seconds the client waits for one page of a scroll (async_scan's default is no deadline)."""

SCROLL_KEEP_ALIVE = "5m"
"""How long Elasticsearch keeps a scroll open between two pages."""

BATCH = 500
"""Documents per bulk request and per scroll page (about 2 MB of records)."""

BUSY_STATUSES = frozenset({429, 503})
"""Answers meaning Elasticsearch did not perform the request: safe to send it again."""

UNSURE_STATUSES = frozenset({502, 504})
"""A proxy's answers: the request may or may not have reached Elasticsearch."""

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """When to send a refused write again: ``attempts`` in all, waits doubling to ``longest``.

    Each wait is drawn between half and all of its step, so that writers
    refused together do not come back together.
    """

    attempts: int = 5
    first: float = 0.2
    longest: float = 3.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"backoff needs at least one attempt, not {self.attempts}")

    def waits(self) -> Iterator[float]:
        """The pauses between attempts: ``attempts - 1`` of them."""
        step = self.first
        for _ in range(self.attempts - 1):
            yield step * (0.5 + 0.5 * self.rng.random())
            step = min(step * 2, self.longest)


def connect(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    node_class: type[BaseNode] = HttpxAsyncHttpNode,
) -> AsyncElasticsearch:
    """An async client on the httpx transport, with the read policy by default.

    TLS certificates are always verified, against ``ca_file`` when given.
    """
    options: dict[str, Any] = {}
    if username:
        options["basic_auth"] = (username, password or "")
    if ca_file:
        options["ca_certs"] = ca_file
    return AsyncElasticsearch(
        url,
        node_class=node_class,
        request_timeout=REQUEST_TIMEOUT,
        max_retries=READ_RETRIES,
        retry_on_timeout=True,
        **options,
    )


def sent_once(client: AsyncElasticsearch, timeout: float = REQUEST_TIMEOUT) -> AsyncElasticsearch:
    """``client`` sending each request once, abandoning it after ``timeout`` seconds.

    For writes (the caller decides about another attempt), cluster changes
    (:data:`CLUSTER_CHANGE_TIMEOUT`), scroll pages (:data:`SCAN_TIMEOUT`) and the
    health check (:data:`HEALTH_TIMEOUT`). Never ``None``: that means no deadline.
    """
    return client.options(max_retries=0, retry_on_timeout=False, request_timeout=timeout)


def is_busy(error: BaseException) -> bool:
    """Whether Elasticsearch refused the request without performing it (429, 503)."""
    return isinstance(error, ApiError) and error.status_code in BUSY_STATUSES


def is_unsure(error: BaseException) -> bool:
    """Whether the request may have been performed although no answer says so.

    A timeout or a connection dropped after sending, or a proxy's 502/504. A
    TLS handshake failure is not: nothing was sent.
    """
    if isinstance(error, TlsError):
        return False
    if isinstance(error, (TransportConnectionError, ConnectionTimeout)):
        return True
    return isinstance(error, ApiError) and error.status_code in UNSURE_STATUSES
