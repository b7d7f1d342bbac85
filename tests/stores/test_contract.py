"""The behaviour every :class:`~mme_node.stores.base.PatientStore` promises.

Written against the protocol only, so the same tests hold each implementation
to the same contract (see ``conftest.py`` for which stores run).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from store_samples import sample_record

from mme_node.errors import AlreadyExists, Conflict, NotFound
from mme_node.model import PatientRecord
from mme_node.stores import PatientStore

pytestmark = pytest.mark.anyio


def content(record: PatientRecord) -> PatientRecord:
    """The part of a record its submitter decides (the store sets version and dates)."""
    return dataclasses.replace(record, version=1, created=None, updated=None)


async def test_save_creates_version_one_and_get_returns_it_unchanged(store: PatientStore) -> None:
    sent = sample_record(1)

    stored, created = await store.save(sent)

    assert created
    assert stored.version == 1
    assert content(stored) == sent
    assert await store.get("clinic-a", sent.patient.id) == stored


async def test_save_stamps_created_and_updated_in_utc(store: PatientStore) -> None:
    stored, _ = await store.save(sample_record(1))

    assert stored.created is not None and stored.updated is not None
    assert stored.created.utcoffset() == timedelta(0)
    assert stored.updated >= stored.created


async def test_save_ignores_version_and_dates_set_by_the_caller(store: PatientStore) -> None:
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    sent = dataclasses.replace(sample_record(1), version=5, created=long_ago, updated=long_ago)

    stored, _ = await store.save(sent)

    assert stored.version == 1
    assert stored.created != long_ago and stored.updated != long_ago


async def test_concurrent_replaces_from_one_version_let_exactly_one_win(
    store: PatientStore,
) -> None:
    await store.save(sample_record(1))

    outcomes = await asyncio.gather(
        *(store.save(sample_record(1), expected_version=1) for _ in range(4)),
        return_exceptions=True,
    )

    assert sum(isinstance(outcome, tuple) for outcome in outcomes) == 1
    assert sum(isinstance(outcome, Conflict) for outcome in outcomes) == 3
    assert (await store.get("clinic-a", "case-000001")).version == 2


async def test_replace_bumps_version_and_keeps_created(store: PatientStore) -> None:
    first, _ = await store.save(sample_record(1))
    changed = dataclasses.replace(sample_record(1), hpo_release="2025-01-16")

    second, created = await store.save(changed)

    assert not created
    assert second.version == 2
    assert second.created == first.created
    assert second.updated is not None and first.updated is not None
    assert second.updated >= first.updated
    assert await store.get("clinic-a", changed.patient.id) == second


async def test_replace_with_current_expected_version_succeeds(store: PatientStore) -> None:
    await store.save(sample_record(1))

    second, _ = await store.save(sample_record(1), expected_version=1)

    assert second.version == 2


async def test_replace_with_stale_expected_version_is_conflict_naming_both_versions(
    store: PatientStore,
) -> None:
    for _ in range(3):
        await store.save(sample_record(1))

    # Version 2 was current once: a writer that read it lost the race to version 3.
    with pytest.raises(Conflict) as raised:
        await store.save(sample_record(1), expected_version=2)

    assert "case-000001" in raised.value.message
    assert "version 3" in raised.value.message and "2" in raised.value.message
    assert (await store.get("clinic-a", "case-000001")).version == 3


async def test_replace_with_future_expected_version_is_conflict(store: PatientStore) -> None:
    for _ in range(3):
        await store.save(sample_record(1))

    with pytest.raises(Conflict, match="9"):
        await store.save(sample_record(1), expected_version=9)

    assert (await store.get("clinic-a", "case-000001")).version == 3


async def test_expected_version_for_missing_patient_is_conflict(store: PatientStore) -> None:
    with pytest.raises(Conflict, match="case-000001"):
        await store.save(sample_record(1), expected_version=1)

    assert await store.count() == 0


async def test_create_only_creates_a_new_patient_at_version_one(store: PatientStore) -> None:
    stored, created = await store.save(sample_record(1), create_only=True)

    assert created and stored.version == 1
    assert await store.get("clinic-a", "case-000001") == stored


async def test_create_only_of_an_existing_patient_is_refused_and_changes_nothing(
    store: PatientStore,
) -> None:
    first, _ = await store.save(sample_record(1))
    other = dataclasses.replace(sample_record(1), hpo_release="2025-01-16")

    with pytest.raises(AlreadyExists, match="case-000001"):
        await store.save(other, create_only=True)

    assert await store.get("clinic-a", "case-000001") == first


async def test_create_only_of_an_id_another_owner_uses_creates_a_separate_patient(
    store: PatientStore,
) -> None:
    await store.save(sample_record(1))
    theirs = dataclasses.replace(sample_record(1), owner="clinic-b")

    _, created = await store.save(theirs, create_only=True)

    assert created
    assert (await store.get("clinic-a", "case-000001")).version == 1


async def test_concurrent_creations_of_one_id_let_exactly_one_win(store: PatientStore) -> None:
    releases = ["2024-04-26", "2025-01-16", "2025-03-03", "2025-05-05"]
    attempts = [dataclasses.replace(sample_record(1), hpo_release=r) for r in releases]

    outcomes = await asyncio.gather(
        *(store.save(attempt, create_only=True) for attempt in attempts),
        return_exceptions=True,
    )

    winners = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    assert len(winners) == 1
    assert sum(isinstance(outcome, AlreadyExists) for outcome in outcomes) == 3
    (winner, created), *_ = winners
    assert created and await store.get("clinic-a", "case-000001") == winner


async def test_create_only_with_an_expected_version_is_a_callers_error(
    store: PatientStore,
) -> None:
    with pytest.raises(ValueError):
        await store.save(sample_record(1), expected_version=1, create_only=True)

    assert await store.count() == 0


async def test_same_id_under_different_owners_are_separate_patients(store: PatientStore) -> None:
    await store.save(sample_record(1, owner="clinic-a"))
    other, created = await store.save(sample_record(1, owner="clinic-b"))

    assert created
    assert other.version == 1
    assert (await store.get("clinic-a", "case-000001")).owner == "clinic-a"
    assert (await store.get("clinic-b", "case-000001")).owner == "clinic-b"
    assert await store.count() == 2


async def test_get_missing_patient_is_not_found(store: PatientStore) -> None:
    await store.save(sample_record(1, owner="clinic-a"))

    with pytest.raises(NotFound):
        await store.get("clinic-b", "case-000001")


async def test_get_many_returns_records_in_the_order_asked_none_where_missing(
    store: PatientStore,
) -> None:
    saved = [(await store.save(sample_record(n, owner=o)))[0] for n, o in ((1, "a"), (2, "b"))]
    keys = [("b", "case-000002"), ("a", "case-000009"), ("b", "case-000001"), ("a", "case-000001")]

    found = await store.get_many(keys)

    assert found == [saved[1], None, None, saved[0]]
    assert found[3] == await store.get("a", "case-000001")


async def test_get_many_of_a_repeated_key_returns_it_each_time(store: PatientStore) -> None:
    stored, _ = await store.save(sample_record(1))

    assert await store.get_many([stored.key, stored.key]) == [stored, stored]
    assert await store.get_many([]) == []


async def test_get_many_of_keys_with_any_characters(store: PatientStore) -> None:
    odd = dataclasses.replace(
        sample_record(1, owner='cl"inic, é'),
        patient=sample_record(1).patient.replace(id='id with "quotes", commas\\ and ü'),
    )
    stored, _ = await store.save(odd)

    assert await store.get_many([stored.key]) == [stored]


async def test_list_pages_in_patient_id_order_with_total(store: PatientStore) -> None:
    for number in (5, 3, 1, 4, 2):
        await store.save(sample_record(number))

    first = await store.list("clinic-a", offset=0, limit=2)
    last = await store.list("clinic-a", offset=4, limit=2)

    assert [r.patient.id for r in first.records] == ["case-000001", "case-000002"]
    assert [r.patient.id for r in last.records] == ["case-000005"]
    assert (first.total, first.offset, first.limit) == (5, 0, 2)
    assert last.total == 5


async def test_list_filters_by_owner(store: PatientStore) -> None:
    await store.save(sample_record(1, owner="clinic-a"))
    await store.save(sample_record(2, owner="clinic-b"))
    await store.save(sample_record(3, owner="clinic-a"))

    page = await store.list("clinic-b")

    assert [r.key for r in page.records] == [("clinic-b", "case-000002")]
    assert page.total == 1


async def test_list_without_owner_lists_every_owner(store: PatientStore) -> None:
    await store.save(sample_record(2, owner="clinic-a"))
    await store.save(sample_record(1, owner="clinic-b"))

    page = await store.list(None)

    assert [r.key for r in page.records] == [
        ("clinic-b", "case-000001"),
        ("clinic-a", "case-000002"),
    ]
    assert page.total == 2


async def test_list_past_the_end_is_empty_with_total(store: PatientStore) -> None:
    await store.save(sample_record(1))

    page = await store.list("clinic-a", offset=10, limit=5)

    assert page.records == ()
    assert page.total == 1


async def test_deleted_patient_is_not_found(store: PatientStore) -> None:
    await store.save(sample_record(1))

    await store.delete("clinic-a", "case-000001")

    with pytest.raises(NotFound):
        await store.get("clinic-a", "case-000001")
    assert await store.count() == 0


async def test_delete_missing_patient_is_not_found(store: PatientStore) -> None:
    with pytest.raises(NotFound):
        await store.delete("clinic-a", "case-000001")


async def test_delete_leaves_same_id_of_other_owner(store: PatientStore) -> None:
    await store.save(sample_record(1, owner="clinic-a"))
    await store.save(sample_record(1, owner="clinic-b"))

    await store.delete("clinic-a", "case-000001")

    assert (await store.get("clinic-b", "case-000001")).owner == "clinic-b"


async def test_patient_saved_again_after_delete_starts_at_version_one(store: PatientStore) -> None:
    await store.save(sample_record(1))
    await store.save(sample_record(1))
    await store.delete("clinic-a", "case-000001")

    stored, created = await store.save(sample_record(1))

    assert created
    assert stored.version == 1


async def test_import_many_stores_every_record(store: PatientStore) -> None:
    sent = [sample_record(number) for number in range(20)]

    report = await store.import_many(sent)

    assert report.imported == 20
    assert report.rejected == []
    for record in sent:
        assert content(await store.get(record.owner, record.patient.id)) == record


async def test_import_many_replaces_existing_patients(store: PatientStore) -> None:
    await store.save(sample_record(1))

    report = await store.import_many([sample_record(1), sample_record(2)])

    assert report.imported == 2
    assert (await store.get("clinic-a", "case-000001")).version == 2
    assert (await store.get("clinic-a", "case-000002")).version == 1


async def test_import_many_rejects_a_bad_record_and_keeps_the_rest(store: PatientStore) -> None:
    good = [sample_record(number) for number in range(20)]
    unencodable = dataclasses.replace(
        sample_record(99), patient=sample_record(99).patient.replace(label=object())
    )

    report = await store.import_many([*good[:10], unencodable, *good[10:]])

    assert report.imported == 20
    assert [r.patient_id for r in report.rejected] == ["case-000099"]
    assert report.rejected[0].reason
    assert await store.count() == 20
    with pytest.raises(NotFound):
        await store.get("clinic-a", "case-000099")


async def test_import_many_reports_progress_for_every_record(store: PatientStore) -> None:
    progress: list[int] = []

    await store.import_many((sample_record(n) for n in range(30)), on_progress=progress.append)

    assert progress
    assert all(step > 0 for step in progress)
    assert sum(progress) == 30


async def test_iter_records_yields_every_stored_record(store: PatientStore) -> None:
    await store.import_many(sample_record(n, owner=f"clinic-{n % 2}") for n in range(25))

    seen = [record async for record in store.iter_records()]

    assert sorted(r.key for r in seen) == sorted(
        (f"clinic-{n % 2}", f"case-{n:06d}") for n in range(25)
    )
    for record in seen:
        assert record == await store.get(*record.key)


async def test_count_counts_patients_of_every_owner(store: PatientStore) -> None:
    await store.save(sample_record(1, owner="clinic-a"))
    await store.save(sample_record(1, owner="clinic-b"))
    await store.save(sample_record(2, owner="clinic-b"))

    assert await store.count() == 3


async def test_health_of_open_store_is_ok(store: PatientStore) -> None:
    health = await store.health()

    assert health.ok
    assert health.kind == store.kind


async def test_an_open_store_is_reachable(store: PatientStore) -> None:
    await store.save(sample_record(1))

    assert await store.reachable()


async def test_open_twice_keeps_the_data(store: PatientStore) -> None:
    await store.save(sample_record(1))

    await store.open()

    assert await store.count() == 1


async def test_a_replace_stores_its_own_consent_even_none(store: PatientStore) -> None:
    first, _ = await store.save(sample_record(1))
    assert first.consent is not None

    second, _ = await store.save(dataclasses.replace(sample_record(1), consent=None))

    assert second.consent is None
    assert (await store.get("clinic-a", "case-000001")).consent is None
    assert (await store.list("clinic-a")).records[0].consent is None
