"""The cyclic garbage collector kept off what a serving process builds to last.

Starting a node allocates a few hundred thousand long-lived container objects
(the HGNC gene tables, the modules, the match index's keys and caches). Every
700 allocations start a collection, and every so often a full one walks each
object alive: in a serving process at 100,000 patients that was about 0.2 s
of CPU out of 1.2 s, spent finding no garbage. Start-up runs with the
collector paused; reference counting still frees what is dropped, and the
collector resumes afterwards, walking the survivors a few times instead of
dozens.

Once a serving process has started, what it built is frozen
(:func:`freeze_start_up`): the collector's full passes then walk only what
was made since. A 200-result ``/match`` allocates enough objects to start
several collections, and the full ones walked the whole start-up heap each
time (``bench/match_steps.py``: 0.62 s of 10.2 s of CPU, about a sixth of
a 200-result answer). Frozen objects are still freed when their last
reference goes; only garbage cycles among them would stay. So when the
serving state is replaced (``Serving.swap``: an HPO release switch, a
reload), everything is thawed (:func:`thaw`), and once the requests still
using the old state are done, collected and frozen again
(:func:`refreeze_when_settled`). (What a
request still holds at that moment is frozen with the rest: if it later
became a cycle it would stay, a few objects per switch at most. The
release and serving state themselves are freed by reference counting.)
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)


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


REFREEZE_AFTER = 10.0
"""Seconds from a thaw to the collection that frees the old state: long enough for the
requests still using it to finish, so that none of its cycles is frozen again."""


@dataclass
class _Freezing:
    """Whether this process freezes its long-lived objects, and when they were thawed."""

    enabled: bool = False
    thawed_at: float | None = None


_freezing = _Freezing()


def freeze_start_up() -> None:
    """Collect start-up's garbage once, then leave the survivors out of every later pass."""
    started = time.process_time()
    gc.collect()
    gc.freeze()
    _freezing.enabled = True
    log.info(
        "%d start-up objects frozen (out of the garbage collector's passes; %.2f s)",
        gc.get_freeze_count(),
        time.process_time() - started,
    )


def stop_freezing() -> None:
    """Thaw for good and forget that start-up froze (tests that froze, to undo it)."""
    gc.unfreeze()
    _freezing.enabled = False
    _freezing.thawed_at = None


def thaw() -> None:
    """Long-lived state was replaced: let the collector see it again, until it is refrozen.

    A no-op unless :func:`freeze_start_up` ran (not in tests, not on the command line).
    """
    if _freezing.enabled:
        gc.unfreeze()
        _freezing.thawed_at = time.monotonic()


def refreeze_when_settled(settle: float | None = None) -> bool:
    """``settle`` seconds (:data:`REFREEZE_AFTER`) after a :func:`thaw`: collect (freeing
    the replaced state's cycles) and freeze again. Blocks for one full collection (about
    a second at a million patients). Returns whether it did."""
    thawed_at = _freezing.thawed_at
    wait = REFREEZE_AFTER if settle is None else settle
    if thawed_at is None or time.monotonic() - thawed_at < wait:
        return False
    gc.collect()
    gc.freeze()
    _freezing.thawed_at = None
    return True
