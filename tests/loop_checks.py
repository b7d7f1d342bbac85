"""Checks of what runs on the event loop and what waits off it."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def calling_threads(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[int]:
    """The thread of every call of ``owner.name`` from now on, in order (the calls go through).

    ``name`` may be a method or a static method of ``owner``.
    """
    threads: list[int] = []
    found = inspect.getattr_static(owner, name)
    static = isinstance(found, staticmethod)
    function = found.__func__ if static else found

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return function(*args, **kwargs)

    monkeypatch.setattr(owner, name, staticmethod(recorded) if static else recorded)
    return threads


async def awaited_while_held(lock: threading.Lock, work: Awaitable[T]) -> T:
    """``work``'s result, started while ``lock`` is held as another thread would hold it.

    Asserts that the event loop ran on while ``work`` waited (the lock is
    released after 0.2 s; after 10 s whatever happens, since a loop blocked
    on it could not release it).
    """
    lock.acquire()
    safety = threading.Timer(10, lock.release)
    safety.start()
    try:
        waiting = asyncio.ensure_future(work)
        await asyncio.sleep(0.2)
        assert lock.locked() and not waiting.done()  # the loop ran on meanwhile
    finally:
        if safety.is_alive():
            safety.cancel()
            lock.release()
    return await waiting
