"""Fault peers: one real HTTP server on 127.0.0.1 whose paths behave like broken MME nodes.

Each "peer" is a base path on the same uvicorn server (``/hang``, ``/drip``,
``/status/500`` ...), so one session-wide server covers every fault. Paths
with a ``{key}`` keep a request count per key, so tests never share state.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from mme_node.peers import Peer
from mme_node.peers.client import MAX_PEER_RESULTS

TOKEN = "fake-peer-token-never-logged-7f3a"
MEDIA_1_0 = "application/vnd.ga4gh.matchmaker.v1.0+json"
OVER_CAP = 2 * 1024 * 1024
ANSWERS_WITHIN = 30.0
"""A fault peer's deadline unless a test sets one: every path but ``hang`` and ``drip``
answers at once, and a busy machine must not turn that answer into a timeout."""


def remote_patient(patient_id: str) -> dict[str, Any]:
    return {
        "id": patient_id,
        "contact": {"name": "Dr Remote", "href": "mailto:remote@example.org"},
        "features": [{"id": "HP:0001250", "observed": "yes"}],
        "genomicFeatures": [{"gene": {"id": "SCN1A"}}],
    }


HEALTHY_ANSWER = {
    "results": [
        {"score": {"patient": 0.9}, "patient": remote_patient("remote-1")},
        {"score": {"patient": 0.25}, "patient": remote_patient("remote-2")},
    ],
    "disclaimer": "test data",
}


class FaultPeerState:
    """What the fake peers saw: request counts and the last request, per key."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self.last_body: dict[str, bytes] = {}


def build_app(state: FaultPeerState) -> Starlette:
    def answer(content: object, status: int = 200) -> Response:
        return JSONResponse(content, status_code=status, media_type=MEDIA_1_0)

    async def healthy(request: Request) -> Response:
        return answer(HEALTHY_ANSWER)

    async def record(request: Request) -> Response:
        key = request.path_params["key"]
        state.requests[key] += 1
        state.last_headers[key] = dict(request.headers)
        state.last_body[key] = await request.body()
        return answer(HEALTHY_ANSWER)

    async def status(request: Request) -> Response:
        return answer({"message": "failing on purpose"}, request.path_params["code"])

    async def counted_status(request: Request) -> Response:
        state.requests[request.path_params["key"]] += 1
        return answer({"message": "failing on purpose"}, request.path_params["code"])

    async def flaky(request: Request) -> Response:
        key = request.path_params["key"]
        state.requests[key] += 1
        if state.requests[key] <= request.path_params["failures"]:
            return answer({"message": "busy"}, 503)
        return answer(HEALTHY_ANSWER)

    arrived: dict[str, asyncio.Event] = {}

    async def together(request: Request) -> Response:
        """Answers only once ``count`` requests for ``key`` are in: asked one after another,
        the first would wait for the others until its deadline."""
        key = request.path_params["key"]
        state.requests[key] += 1
        everyone = arrived.setdefault(key, asyncio.Event())
        if state.requests[key] >= request.path_params["count"]:
            everyone.set()
        await everyone.wait()
        return answer(HEALTHY_ANSWER)

    async def hang(request: Request) -> Response:
        await request.body()
        # The next message can only be the client hanging up.
        await request.receive()
        return Response(status_code=204)

    async def drip(request: Request) -> Response:
        async def one_byte_every_200_ms() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b" "
                await asyncio.sleep(0.2)

        return StreamingResponse(one_byte_every_200_ms(), media_type=MEDIA_1_0)

    async def stream_over_cap(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(OVER_CAP // 65536):
                yield b" " * 65536

        return StreamingResponse(chunks(), media_type=MEDIA_1_0)

    async def heartbeat(request: Request) -> Response:
        return answer(
            {"heartbeat": {"production": False, "version": "fault", "accept": [MEDIA_1_0]}}
        )

    async def fixed(request: Request) -> Response:
        body, media = FIXED_BODIES[request.url.path.strip("/").removesuffix("/match")]
        return Response(body, media_type=media)

    return Starlette(
        routes=[
            Route("/healthy/match", healthy, methods=["POST"]),
            Route("/healthy/heartbeat", heartbeat, methods=["GET"]),
            Route("/status/{code:int}/heartbeat", status, methods=["GET"]),
            Route("/record/{key}/match", record, methods=["POST"]),
            Route("/status/{code:int}/match", status, methods=["POST"]),
            Route("/count/{key}/{code:int}/match", counted_status, methods=["POST"]),
            Route("/flaky/{key}/{failures:int}/match", flaky, methods=["POST"]),
            Route("/together/{key}/{count:int}/match", together, methods=["POST"]),
            Route("/hang/match", hang, methods=["POST"]),
            Route("/drip/match", drip, methods=["POST"]),
            Route("/stream-over-cap/match", stream_over_cap, methods=["POST"]),
            *(Route(f"/{name}/match", fixed, methods=["POST"]) for name in FIXED_BODIES),
        ]
    )


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


FIXED_BODIES: dict[str, tuple[bytes, str]] = {
    "html": (b"<html><body>Welcome to nginx!</body></html>", "text/html"),
    "invalid-json": (b'{"results": [', MEDIA_1_0),
    "over-cap": (b" " * OVER_CAP, MEDIA_1_0),
    "not-an-object": (b"[]", MEDIA_1_0),
    "off-schema": (
        _json({"results": [{"score": {"patient": 0.5}, "patient": {"id": "no-contact"}}]}),
        MEDIA_1_0,
    ),
    "score-too-high": (
        _json({"results": [{"score": {"patient": 1.5}, "patient": remote_patient("r")}]}),
        MEDIA_1_0,
    ),
    "too-many-results": (
        _json(
            {
                "results": [
                    {"score": {"patient": 0.5}, "patient": remote_patient(f"r{i}")}
                    for i in range(MAX_PEER_RESULTS + 1)
                ]
            }
        ),
        MEDIA_1_0,
    ),
}


class FaultPeerServer:
    """A uvicorn server in a background thread, on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.state = FaultPeerState()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.state), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("fault peer server did not start")
            self._thread.join(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
        self._socket.close()

    def peer(self, path: str, *, timeout: float = ANSWERS_WITHIN, **fields: Any) -> Peer:
        """A peer whose base URL is ``path`` on this server (``name`` defaults to the path)."""
        name = fields.pop("name", path.replace("/", "-"))
        return Peer(
            name=name,
            base_url=f"http://127.0.0.1:{self.port}/{path}",
            token=TOKEN,
            timeout=timeout,
            **fields,
        )


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
