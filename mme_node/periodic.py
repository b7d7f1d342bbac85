"""Work a serving process repeats in the background (retention, late filing), stopped cleanly.

A round usually runs blocking database work in a worker thread. Cancelling
the task awaiting it does not stop that thread: a node stopping at once
would close connections the round still uses (or block the event loop
waiting for their locks). :class:`Periodic` runs each round as a task of its
own, and :meth:`Periodic.stop` waits for the round in progress, on the
loop, before the caller closes anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from mme_node.errors import MMEError

log = logging.getLogger(__name__)

Round = Callable[[], Awaitable[bool]]
"""One round of work; True when more is waiting, so the next round starts at once."""


class Periodic:
    """Runs ``work`` now, then every ``interval`` seconds, until :meth:`stop`.

    While a round says more is waiting, the next one starts after ``pause``
    seconds instead (a pause that lets other writers in). A failing round is
    logged and the next one tries again: the task never dies of it.
    """

    def __init__(self, name: str, work: Round, interval: float, pause: float = 0.0) -> None:
        self.name = name
        self.work = work
        self.interval = interval
        self.pause = pause
        self._task: asyncio.Task[None] | None = None
        self._round: asyncio.Future[bool] | None = None

    def start(self) -> None:
        """Start the rounds (once; a second call does nothing)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop the rounds, after the one in progress (if any) has finished."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._round is not None and not self._round.done():
            await asyncio.wait([self._round])
            with contextlib.suppress(Exception):  # its failure is what stopping leaves behind
                self._round.result()

    async def _run(self) -> None:
        while True:
            self._round = asyncio.ensure_future(self.work())
            try:
                more = await asyncio.shield(self._round)
            except MMEError as error:  # the database is busy or failing: try again later
                log.warning("%s: %s", self.name, error.message)
                more = False
            except Exception:
                log.exception("%s failed; trying again in %.0f s", self.name, self.interval)
                more = False
            await asyncio.sleep(self.pause if more else self.interval)
