"""The parts of uvicorn's httptools protocol that ``mme_node/server/protocol.py`` relies on.

The guarded protocol subclasses uvicorn's ``HttpToolsProtocol`` and uses what
is not public API: parser callbacks it overrides and calls through, the
server's set of open connections, and the request cycle's flags. An upgrade
that renames one of them would make the slow-client protections fail in
obscure ways (a hang, a missing 408), so each is named here and checked on
a real connection: a failure says which one went missing. pyproject.toml
bounds uvicorn to the versions this has passed on.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

OVERRIDDEN = (
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_headers_complete",
    "on_message_complete",
)
"""Methods the guarded protocol overrides and calls with ``super()``."""


@pytest.mark.parametrize("name", OVERRIDDEN)
def test_the_overridden_methods_are_uvicorns_own(name: str) -> None:
    method = HttpToolsProtocol.__dict__.get(name)
    assert callable(method), f"uvicorn {uvicorn.__version__}: HttpToolsProtocol.{name} is gone"


async def _reads_the_whole_body(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that answers only once the body is all in (so the cycle stays mid-body)."""
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _state_of_a_connection_mid_body() -> dict[str, Any]:
    """The protocol's internals while a real request waits for the rest of its body."""
    config = Config(_reads_the_whole_body, lifespan="off", log_level="warning")
    config.load()
    state = ServerState()
    made: list[HttpToolsProtocol] = []

    def build() -> HttpToolsProtocol:
        made.append(HttpToolsProtocol(config=config, server_state=state, app_state={}))
        return made[-1]

    server = await asyncio.get_running_loop().create_server(build, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf")
    await writer.drain()
    for _ in range(200):
        if made and getattr(made[0], "cycle", None) is not None:
            break
        await asyncio.sleep(0.01)
    protocol = made[0]
    cycle = getattr(protocol, "cycle", None)
    seen = {
        "in connections": protocol in getattr(protocol, "connections", ()),
        "loop": getattr(protocol, "loop", None),
        "transport": getattr(protocol, "transport", None),
        "client": getattr(protocol, "client", None),
        "headers": getattr(protocol, "headers", None),
        "cycle": cycle is not None,
        "response_started": getattr(cycle, "response_started", None),
        "disconnected": getattr(cycle, "disconnected", None),
        "message_event": getattr(cycle, "message_event", None),
    }
    writer.close()
    server.close()
    await server.wait_closed()
    return seen


def test_a_connection_exposes_what_the_guarded_protocol_reads() -> None:
    seen = asyncio.run(_state_of_a_connection_mid_body())
    version = f"uvicorn {uvicorn.__version__}"
    assert seen["in connections"], f"{version}: no shared `connections` set holding it"
    assert isinstance(seen["loop"], asyncio.AbstractEventLoop), f"{version}: no `loop`"
    assert isinstance(seen["transport"], asyncio.Transport), f"{version}: no `transport`"
    assert seen["client"] is not None and seen["client"][0] == "127.0.0.1", f"{version}: `client`"
    assert (b"content-length", b"10") in seen["headers"], f"{version}: `headers` as byte pairs"
    assert seen["cycle"], f"{version}: no request `cycle` once the headers are in"
    assert seen["response_started"] is False, f"{version}: cycle.response_started"
    assert seen["disconnected"] is False, f"{version}: cycle.disconnected"
    assert isinstance(seen["message_event"], asyncio.Event), f"{version}: cycle.message_event"
