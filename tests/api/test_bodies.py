"""Request bodies: the size cap holds with and without Content-Length, JSON is bounded."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable

import pytest
from starlette.requests import Request
from starlette.types import Message

from mme_node.api.bodies import parse_json, read_body, read_document
from mme_node.errors import InvalidRequest, PayloadTooLarge

CAP = 1000
CHUNK = 64


def request_with(
    headers: list[tuple[bytes, bytes]], chunks: int
) -> tuple[Request, Callable[[], int]]:
    """A POST whose body arrives as ``chunks`` chunks of 64 bytes; and how many were read."""
    read = 0

    async def receive() -> Message:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": read < chunks}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope, receive), lambda: read


def run(awaitable: Awaitable[bytes]) -> bytes:
    return asyncio.run(awaitable)  # type: ignore[arg-type]


def test_declared_over_size_body_is_refused_before_any_of_it_is_read() -> None:
    request, chunks_read = request_with([(b"content-length", str(CAP + 1).encode())], chunks=100)
    with pytest.raises(PayloadTooLarge, match=str(CAP)):
        run(read_body(request, CAP))
    assert chunks_read() == 0


def test_chunked_body_without_content_length_is_cut_once_past_the_cap() -> None:
    request, chunks_read = request_with([(b"transfer-encoding", b"chunked")], chunks=10_000)
    with pytest.raises(PayloadTooLarge):
        run(read_body(request, CAP))
    assert chunks_read() == CAP // CHUNK + 1


def test_content_length_that_understates_the_body_is_still_capped() -> None:
    request, chunks_read = request_with([(b"content-length", b"10")], chunks=10_000)
    with pytest.raises(PayloadTooLarge):
        run(read_body(request, CAP))
    assert chunks_read() == CAP // CHUNK + 1


def test_body_within_the_cap_is_read_whole() -> None:
    request, _ = request_with([(b"transfer-encoding", b"chunked")], chunks=CAP // CHUNK)
    assert len(run(read_body(request, CAP))) == CAP // CHUNK * CHUNK


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"patient": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested deeper"),
        (b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", "nested deeper"),
        (b'{"sex": ' + b"9" * 4301 + b"}", "not valid JSON"),
        (b'{"id": "\\ud800"}', "unpaired surrogate"),
        (b'{"id": "\\udc00x"}', "unpaired surrogate"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_json_the_node_cannot_handle_is_a_bad_request(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidRequest, match=reason):
        parse_json(body)


def test_json_with_a_surrogate_pair_and_moderate_nesting_is_read() -> None:
    document = parse_json(b'{"label": "\\ud83d\\ude00", "a": ' + b"[" * 20 + b"]" * 20 + b"}")
    assert isinstance(document, dict) and document["label"] == "\U0001f600"


def json_request(body: bytes) -> Request:
    """A POST of ``body`` as application/json, in one chunk."""

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers}, receive)


@pytest.mark.parametrize(("padding", "on_the_loop"), [(10, True), (5000, False)])
def test_a_document_is_loaded_on_the_event_loop_only_when_its_body_is_small(
    padding: int, on_the_loop: bool
) -> None:
    body = json.dumps({"name": "x" * padding}).encode()
    loaded_in: list[int] = []

    def load(document: object) -> object:
        loaded_in.append(threading.get_ident())
        return document

    async def read() -> tuple[object, int]:
        document = await read_document(
            json_request(body), CAP * 100, {"application/json"}, load, 4096
        )
        return document, threading.get_ident()

    document, loop_thread = asyncio.run(read())

    assert document == {"name": "x" * padding}
    assert (loaded_in == [loop_thread]) is on_the_loop
