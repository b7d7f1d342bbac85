"""Start-up pauses the cyclic garbage collector and gives it back as it found it; a serving
process then freezes what start-up built, and thaws it when the serving state is replaced."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from mme_node.collector import (
    collection_paused,
    freeze_start_up,
    refreeze_when_settled,
    stop_freezing,
    thaw,
)


@pytest.fixture
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()


def test_paused_in_the_block_and_running_after(collector_restored: None) -> None:
    gc.enable()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_running_again_after_an_error(collector_restored: None) -> None:
    gc.enable()
    with pytest.raises(ValueError), collection_paused():
        raise ValueError("start-up failed")
    assert gc.isenabled()


def test_left_off_if_it_was_off(collector_restored: None) -> None:
    gc.disable()
    with collection_paused(), collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


class Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def freezing() -> Iterator[None]:
    """Freezing as a serving process does it, undone afterwards (the state is global)."""
    yield
    stop_freezing()


def test_start_up_garbage_is_collected_and_the_survivors_frozen(freezing: None) -> None:
    garbage = Cycle()
    dropped = weakref.ref(garbage)
    del garbage
    freeze_start_up()
    assert dropped() is None
    assert gc.get_freeze_count() > 0


def test_a_frozen_cycle_dropped_after_a_thaw_is_freed_once_settled(freezing: None) -> None:
    old_state = Cycle()
    replaced = weakref.ref(old_state)
    freeze_start_up()
    del old_state  # replaced by new state: garbage, but frozen
    gc.collect()
    assert replaced() is not None  # the collector does not see frozen objects

    thaw()
    assert gc.get_freeze_count() == 0
    assert not refreeze_when_settled(settle=60.0)  # requests may still use it
    assert refreeze_when_settled(settle=0.0)
    assert replaced() is None
    assert gc.get_freeze_count() > 0
    assert not refreeze_when_settled(settle=0.0)  # once per thaw


def test_nothing_is_frozen_unless_start_up_froze(freezing: None) -> None:
    """Tests and the command line make nodes one after another: theirs must stay collectable."""
    thaw()
    assert not refreeze_when_settled(settle=0.0)
    assert gc.get_freeze_count() == 0
