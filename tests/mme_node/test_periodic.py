"""Background rounds: repeated, again at once while more waits, never killed by a failure, and
stopped only after the round in progress has finished its work."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from mme_node.errors import ServiceUnavailable
from mme_node.periodic import Periodic


def test_rounds_follow_at_once_while_more_waits_then_every_interval() -> None:
    async def scenario() -> list[float]:
        started: list[float] = []
        loop = asyncio.get_running_loop()

        async def work() -> bool:
            started.append(loop.time())
            return len(started) < 3  # two rounds find more waiting

        rounds = Periodic("test rounds", work, interval=60.0)
        rounds.start()
        for _ in range(100):
            await asyncio.sleep(0.01)
        await rounds.stop()
        return started

    started = asyncio.run(scenario())
    assert len(started) == 3  # the third said nothing waits: the next is a minute away


def test_a_failing_round_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> int:
        calls = 0

        async def work() -> bool:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ServiceUnavailable("database is locked")
            if calls == 2:
                raise RuntimeError("a bug")
            return False

        rounds = Periodic("test rounds", work, interval=0.01)
        rounds.start()
        for _ in range(300):
            if calls >= 3:
                break
            await asyncio.sleep(0.01)
        await rounds.stop()
        return calls

    with caplog.at_level(logging.WARNING, logger="mme_node.periodic"):
        assert asyncio.run(scenario()) >= 3
    assert "test rounds: database is locked" in caplog.text
    assert "test rounds failed" in caplog.text and "RuntimeError: a bug" in caplog.text


def test_stopping_waits_for_the_work_of_the_round_in_progress() -> None:
    """A round's thread goes on when its task is cancelled: what it uses must not be
    closed under it."""
    working = threading.Event()
    release = threading.Event()
    finished = threading.Event()

    def blocking() -> bool:
        working.set()
        release.wait(10)
        finished.set()
        return False

    async def scenario() -> bool:
        async def work() -> bool:
            return await asyncio.to_thread(blocking)

        rounds = Periodic("test rounds", work, interval=60.0)
        rounds.start()
        await asyncio.to_thread(working.wait, 10)
        stopping = asyncio.create_task(rounds.stop())
        await asyncio.sleep(0.05)
        waited = not stopping.done()  # the loop runs meanwhile: this line is reached
        release.set()
        await stopping
        return waited and finished.is_set()

    assert asyncio.run(scenario())
