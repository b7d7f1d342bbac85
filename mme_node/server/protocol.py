"""uvicorn's httptools protocol with deadlines for headers and body, and connection caps.

What uvicorn enforces by itself: an idle keep-alive connection is
closed ``timeout_keep_alive`` seconds after a response; ``limit_concurrency``
answers 503 once headers arrive. What it does not (each checked with raw
sockets, see ``tests/server``): a connection that sends nothing, or its
headers or body at a byte a second, or a ``Content-Length`` larger than the
body it sends, is kept open forever, and header size is unbounded with
httptools. :class:`GuardedHttpToolsProtocol` adds:

* a **header deadline**: a request's line and headers must all arrive within
  ``header_timeout`` seconds of the connection (or of the request's first
  byte on a kept-alive connection), else 408 and close;
* a **body deadline**: the whole body within ``body_timeout`` seconds after
  the headers, else 408 and close (the app sees the client disconnect);
* a **header size cap**: more than ``max_header_bytes`` before the headers
  end gets 431 and close;
* a **connection cap**: past ``max_connections`` open connections a new one
  gets 503 at once and is closed, so descriptors never run out.

It relies on uvicorn's protocol internals (``connections``, ``cycle``,
``on_*`` parser callbacks), pinned by the tests in ``tests/server``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mme_node.server.options import ConnectionLimits

log = logging.getLogger(__name__)

_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Unavailable"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """One connection; ``limits`` is set on the subclass made by :func:`guarded_protocol`."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_headers = True
        self._header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, "too many open connections; try again shortly")
            return
        self._arm(self.limits.header_timeout, "request headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if (
            self._reading_headers
            and self._header_bytes > self.limits.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(431, f"request headers are over {self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        if self._deadline is None:  # a kept-alive connection's next request
            self._header_bytes = 0
            self._arm(self.limits.header_timeout, "request headers")

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._disarm()
        super().on_headers_complete()
        if self._expects_body():
            self._arm(self.limits.body_timeout, "request body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _expects_body(self) -> bool:
        for name, value in self.headers:
            if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                return True
        return False

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, seconds, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, seconds: float, what: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("closing the connection of %s: %s not received within %g s", client, what, seconds)
        self._refuse(408, f"{what} not received within {seconds:g} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` unless the app already started its answer, then close."""
        self._disarm()
        if self.cycle is None or not self.cycle.response_started:
            body = json.dumps({"message": message}).encode()
            self.transport.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n".encode()
                + b"content-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n".encode()
                + b"connection: close\r\n\r\n"
                + body
            )
        if self.cycle is not None:
            # As connection_lost will: the app reads a disconnect, and what it sends is dropped.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to hand to uvicorn (``http=``), with ``limits`` built in."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
