"""The Starlette application: routes, error handlers and the node's lifespan.

The JSON API and the clinicians' web app (``/app``) are served side by side;
the web app's settings are checked here, before the node starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette

from mme_node.api.answers import AnswerTexts
from mme_node.api.errors import EXCEPTION_HANDLERS
from mme_node.api.routes import ROUTES
from mme_node.collector import freeze_start_up
from mme_node.node import Node, start_node
from mme_node.settings import Settings, SettingsError, load_settings
from mme_node.web import ROUTES as WEB_ROUTES
from mme_node.web import WebContext


def create_app(
    settings: Settings,
    on_ready: Callable[[Node], Awaitable[None]] | None = None,
    *,
    freeze: bool = False,
) -> Starlette:
    """An app that starts its :class:`Node` on start-up and stops it on shutdown.

    ``on_ready`` is awaited once the node is started (``mme-node serve``
    prints its banner there). With ``freeze``, what start-up built is frozen
    out of the garbage collector's passes (:mod:`mme_node.collector`): for the
    one app of a serving process, not for apps made and dropped one after
    another (tests), whose frozen cycles would never be freed. Raises
    ``SettingsError`` for a bad web setting (an identity rule, say, or a
    ``match_concurrency`` below 1).
    """
    web = WebContext.from_settings(settings)
    if settings.match_concurrency < 1:
        raise SettingsError(
            f"setting 'match_concurrency' must be 1 or more, not {settings.match_concurrency}"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        node: Node = await start_node(settings)
        app.state.node = node
        if freeze:
            freeze_start_up()
        if on_ready is not None:
            await on_ready(node)
        try:
            yield
        finally:
            await node.stop()

    app = Starlette(
        routes=[*ROUTES, *WEB_ROUTES],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.web = web
    app.state.answers = AnswerTexts()  # this app's texts of recent /match answers
    app.state.match_slots = asyncio.Semaphore(settings.match_concurrency)
    return app


def app_from_environment() -> Starlette:
    """The app of one server worker process: settings from the ``MME_*`` variables.

    ``mme-node serve --workers N`` puts its settings there
    (:meth:`Settings.environment`) before starting the workers.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    )
    return create_app(load_settings(), freeze=True)
