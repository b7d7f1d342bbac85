"""Reading request bodies safely: media type, size cap, JSON syntax.

The size cap is enforced before the body is read when ``Content-Length`` is
given, and while streaming otherwise, so an over-size body never sits whole
in memory. The JSON itself is read by :mod:`mme_node.formats.jsontext`,
bounded in depth and free of unpaired surrogates.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from starlette.requests import Request

from mme_node.concurrency import run_cpu_bound
from mme_node.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from mme_node.formats.jsontext import JSONTextError, load_json

T = TypeVar("T")


def media_type_of(request: Request) -> str:
    """The request's media type without parameters, lower-cased ("" when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def check_media_type(request: Request, accepted: Collection[str]) -> str:
    media_type = media_type_of(request)
    if media_type not in accepted:
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"Content-Type {shown} is not accepted here; send one of: {', '.join(sorted(accepted))}"
        )
    return media_type


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InvalidRequest("Content-Length header is not a number") from None
        if size > max_bytes:
            raise PayloadTooLarge(_too_large(max_bytes))
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLarge(_too_large(max_bytes))
        chunks.append(chunk)
    return b"".join(chunks)


PARSE_IN_WORKER_BYTES = 64 * 1024
"""Bodies larger than this are parsed in a worker thread, off the event loop."""


async def read_json(request: Request, max_bytes: int, accepted: Collection[str]) -> object:
    """The parsed JSON body, after the media type and size checks.

    A large body (up to ``max_bytes``, 1 MB by default) takes tens of
    milliseconds to parse and check: that happens in a worker thread so that
    other requests (``/health``) are answered meanwhile.
    """
    return await read_document(
        request, max_bytes, accepted, lambda document: document, PARSE_IN_WORKER_BYTES
    )


async def read_document(
    request: Request,
    max_bytes: int,
    accepted: Collection[str],
    load: Callable[[object], T],
    inline_up_to: int,
) -> T:
    """``load`` (validation, say) of the parsed JSON body, after the media type and size checks.

    Parsing and ``load`` run on the event loop for a body of up to
    ``inline_up_to`` bytes, and in the one CPU slot of a worker thread for a
    larger one (see :mod:`mme_node.concurrency`).
    """
    check_media_type(request, accepted)
    body = await read_body(request, max_bytes)
    if not body.strip():
        raise InvalidRequest("request body is empty; a JSON object was expected")
    if len(body) > inline_up_to:
        return await run_cpu_bound(lambda: load(parse_json(body)))
    return load(parse_json(body))


def parse_json(body: bytes) -> object:
    """The JSON document in ``body`` (see :func:`~mme_node.formats.jsontext.load_json`)."""
    try:
        return load_json(body)
    except JSONTextError as error:
        raise InvalidRequest(f"request body {error}") from None


def _too_large(max_bytes: int) -> str:
    return f"request body is larger than the limit of {max_bytes} bytes"
