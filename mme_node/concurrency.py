"""Pure-Python CPU work off the event loop, one piece at a time.

Parsing a large body, validating and normalising a patient are Python code:
under the GIL, worker threads running it side by side go no faster than
one, but each of them competes with the event loop for the GIL, so with
four of them ``/health`` waited over a second. :func:`run_cpu_bound` runs
such work in a worker thread while holding the one CPU slot, so the event
loop only ever competes with a single busy thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_CPU_SLOT = threading.Lock()


async def run_cpu_bound(work: Callable[[], T]) -> T:
    """``work()`` in a worker thread, after any other CPU-bound work has finished."""
    return await asyncio.to_thread(_alone, work)


def _alone(work: Callable[[], T]) -> T:
    with _CPU_SLOT:
        return work()
