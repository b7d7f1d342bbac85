"""The Starlette application: routes, error handlers and the node's lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette

from mme_node.api.errors import EXCEPTION_HANDLERS
from mme_node.api.routes import ROUTES
from mme_node.node import Node, start_node
from mme_node.settings import Settings


def create_app(
    settings: Settings, on_ready: Callable[[Node], Awaitable[None]] | None = None
) -> Starlette:
    """An app that starts its :class:`Node` on start-up and stops it on shutdown.

    ``on_ready`` is awaited once the node is started (``mme-node serve``
    prints its banner there).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        node: Node = await start_node(settings)
        app.state.node = node
        if on_ready is not None:
            await on_ready(node)
        try:
            yield
        finally:
            await node.stop()

    return Starlette(
        routes=ROUTES,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
