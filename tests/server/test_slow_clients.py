"""Slow, idle and greedy connections against a real uvicorn server with the guarded protocol.

Each test talks raw HTTP over a socket to a server on 127.0.0.1 whose
deadlines are short (0.5 s), so "never closed" and "closed in time" are told
apart in about a second.
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
WAIT = 3.0


async def echo(request: Request) -> Response:
    return JSONResponse({"received": len(await request.body())})


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    app = Starlette(routes=[Route("/", echo, methods=["GET", "POST"])])
    options = {"lifespan": "off", "http": guarded_protocol(LIMITS), "timeout_keep_alive": 1}
    with ThreadedServer(app, **options) as running:
        yield running


def connect(server: ThreadedServer) -> socket.socket:
    connection = socket.create_connection(server.address, timeout=WAIT)
    return connection


def answer_of(connection: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    started = time.monotonic()
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received, time.monotonic() - started


def test_a_connection_that_sends_nothing_is_closed_with_408(server: ThreadedServer) -> None:
    with connect(server) as connection:
        answer, seconds = answer_of(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request headers not received within 0.5 s" in answer
    assert seconds < WAIT


def test_headers_dripped_a_byte_at_a_time_are_cut_at_the_deadline(server: ThreadedServer) -> None:
    with connect(server) as connection:
        started = time.monotonic()
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\n":
            try:
                connection.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
        answer, _ = answer_of(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < WAIT


@pytest.mark.parametrize("body", [b'{"a": 1', b""])
def test_a_body_shorter_than_its_content_length_is_cut_at_the_deadline(
    server: ThreadedServer, body: bytes
) -> None:
    with connect(server) as connection:
        connection.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + body)
        answer, seconds = answer_of(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request body not received" in answer
    assert seconds < WAIT


def test_over_size_headers_get_431(server: ThreadedServer) -> None:
    with connect(server) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n")
        answer, _ = answer_of(connection)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_connections_past_the_cap_get_503_at_once(server: ThreadedServer) -> None:
    held = [connect(server) for _ in range(LIMITS.max_connections)]
    try:
        time.sleep(0.1)
        with connect(server) as extra:
            answer, seconds = answer_of(extra)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert seconds < LIMITS.header_timeout
    finally:
        for connection in held:
            connection.close()


def test_a_prompt_client_is_served_and_kept_alive_across_requests(server: ThreadedServer) -> None:
    with connect(server) as connection:
        for _ in range(3):
            connection.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            answer = connection.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert answer.endswith(b'{"received":2}')
            time.sleep(0.3)  # under the deadlines, and under keep-alive


def test_a_chunked_body_is_read_whole_within_the_deadline(server: ThreadedServer) -> None:
    with connect(server) as connection:
        connection.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n"
        )
        assert connection.recv(65536).endswith(b'{"received":5}')
