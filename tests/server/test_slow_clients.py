"""Slow, idle and greedy connections against a real uvicorn server with the guarded protocol.

Each test talks raw HTTP over a socket to a server on 127.0.0.1 whose
deadlines are short (0.5 s); what the server answers (408 naming the deadline,
503, 431) and how much of a drip it took tell what cut a connection, not a
clock. A client gives up after ``WAIT`` (30 s): only a server that never
answers gets there.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mme_node.server.options import ConnectionLimits
from mme_node.server.protocol import guarded_protocol
from tests.threaded_server import ThreadedServer

LIMITS = ConnectionLimits(
    header_timeout=0.5, body_timeout=0.5, max_header_bytes=4096, max_connections=20
)
WAIT = 30.0
"""How long a client waits for an answer: a bound for a server that never answers, far past
the deadlines so that a busy machine does not reach it."""
CAPPED = ConnectionLimits(
    header_timeout=60.0, body_timeout=60.0, max_header_bytes=4096, max_connections=5
)
"""A server whose deadlines cut no held connection while the test fills it to its cap."""
DRIP = b"GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100 + b"\r\n"
"""Headers sent a byte every 0.1 s: 13 s of them, against a 0.5 s deadline."""


async def echo(request: Request) -> Response:
    return JSONResponse({"received": len(await request.body())})


def serving(limits: ConnectionLimits) -> ThreadedServer:
    app = Starlette(routes=[Route("/", echo, methods=["GET", "POST"])])
    options = {"lifespan": "off", "http": guarded_protocol(limits), "timeout_keep_alive": 1}
    return ThreadedServer(app, **options)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with serving(LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def capped_server() -> Iterator[ThreadedServer]:
    with serving(CAPPED) as running:
        yield running


def connect(server: ThreadedServer) -> socket.socket:
    connection = socket.create_connection(server.address, timeout=WAIT)
    return connection


def answer_of(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_a_connection_that_sends_nothing_is_closed_with_408(server: ThreadedServer) -> None:
    with connect(server) as connection:
        answer = answer_of(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request headers not received within 0.5 s" in answer


def test_headers_dripped_a_byte_at_a_time_are_cut_at_the_deadline(server: ThreadedServer) -> None:
    # A deadline that each byte put off again would let the whole drip through.
    sent = 0
    with connect(server) as connection:
        for byte in DRIP:
            try:
                connection.send(bytes([byte]))
            except OSError:
                break
            sent += 1
            time.sleep(0.1)
        answer = answer_of(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert sent < len(DRIP)


@pytest.mark.parametrize("body", [b'{"a": 1', b""])
def test_a_body_shorter_than_its_content_length_is_cut_at_the_deadline(
    server: ThreadedServer, body: bytes
) -> None:
    with connect(server) as connection:
        connection.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + body)
        answer = answer_of(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request body not received" in answer


def test_over_size_headers_get_431(server: ThreadedServer) -> None:
    with connect(server) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n")
        answer = answer_of(connection)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_connections_past_the_cap_get_503_at_once(capped_server: ThreadedServer) -> None:
    held = [connect(capped_server) for _ in range(CAPPED.max_connections)]
    try:
        wait_until_open(capped_server, CAPPED.max_connections)
        with connect(capped_server) as extra:
            answer = answer_of(extra)  # the deadlines would take a minute, then give 408
        assert answer.startswith(b"HTTP/1.1 503 ")
    finally:
        for connection in held:
            connection.close()


def wait_until_open(server: ThreadedServer, connections: int) -> None:
    """Until the server has taken ``connections`` connections (liveness only)."""
    deadline = time.monotonic() + WAIT
    while len(server.server.server_state.connections) < connections:
        assert time.monotonic() < deadline, "the server did not take the connections"
        time.sleep(0.01)


def test_a_prompt_client_is_served_and_kept_alive_across_requests(server: ThreadedServer) -> None:
    with connect(server) as connection:
        # Eight requests 0.1 s apart: each well within the deadlines and the keep-alive, but
        # together longer than a deadline, which therefore runs per request.
        for _ in range(8):
            connection.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            answer = connection.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert answer.endswith(b'{"received":2}')
            time.sleep(0.1)


def test_a_chunked_body_is_read_whole_within_the_deadline(server: ThreadedServer) -> None:
    with connect(server) as connection:
        connection.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n"
        )
        assert connection.recv(65536).endswith(b'{"received":5}')
