"""Owner notices: kept per owner, newest first, marked as seen by their owner only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mme_node.services.notices import Notice, OwnerNotices

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def notices(tmp_path: Path) -> Iterator[OwnerNotices]:
    kept = OwnerNotices(tmp_path / "mme-node.sqlite3")
    yield kept
    kept.close()


def notice(owner: str, patient_id: str, message: str = "m") -> Notice:
    return Notice(owner, "test", message, patient_id, {"terms": ["HP:0000001"]})


async def test_posted_notices_come_back_newest_first_with_their_details(
    notices: OwnerNotices,
) -> None:
    posted = await notices.post([notice("a", "P1", "first"), notice("a", "P2", "second")])
    assert all(n.id is not None and n.created is not None for n in posted)

    found = await notices.for_owner("a")

    assert [n.message for n in found] == ["second", "first"]
    assert found[1] == posted[0]
    assert await notices.for_owner("b") == []


async def test_only_the_owner_marks_its_notices_seen(notices: OwnerNotices) -> None:
    [mine] = await notices.post([notice("a", "P1")])
    assert mine.id is not None
    assert await notices.mark_seen("b", [mine.id]) == 0
    assert await notices.unseen_count("a") == 1

    assert await notices.mark_seen("a", [mine.id, mine.id]) == 1

    assert await notices.unseen_count("a") == 0
    assert await notices.for_owner("a", unseen_only=True) == []
    [seen] = await notices.for_owner("a")
    assert seen.seen_at is not None


async def test_forgetting_a_patient_erases_its_notices_only(notices: OwnerNotices) -> None:
    await notices.post([notice("a", "P1"), notice("a", "P2"), notice("b", "P1")])
    await notices.forget_patient("a", "P1")
    assert [n.patient_id for n in await notices.for_owner("a")] == ["P2"]
    assert [n.patient_id for n in await notices.for_owner("b")] == ["P1"]
