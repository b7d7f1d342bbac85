"""Start-up pauses the cyclic garbage collector and gives it back as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mme_node.collector import collection_paused


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
