"""Start-up without the cyclic garbage collector walking everything start-up builds.

Starting a node allocates a few hundred thousand long-lived container objects
(the HGNC gene tables, the modules, the match index's keys and caches). Every
700 allocations start a collection, and every so often a full one walks each
object alive: in a serving process at 100,000 patients that was about 0.2 s
of CPU out of 1.2 s, spent finding no garbage. Start-up runs with the
collector paused; reference counting still frees what is dropped, and the
collector resumes afterwards, walking the survivors a few times instead of
dozens.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Pause cyclic garbage collection in this block (it stays off if it was off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
