"""The Elasticsearch store under timeouts, dropped connections, 429 storms and stalls.

Each scenario injects a fault between the store and a cluster (see
``elastic_cluster.py``) and asserts what the cluster holds afterwards, read
by a client that sees no fault. Every scenario runs against the in-memory
:class:`FakeCluster`; when ``ELASTICSEARCH_URL`` names a real cluster, the
scenarios that can be provoked there run against it too (their own
``mme-test-*`` indexes, deleted afterwards):

    ELASTICSEARCH_URL=http://elastic:$ELASTIC_PASSWORD@127.0.0.1:9200 \\
        .venv/bin/pytest tests/stores/test_elastic_faults.py

A few scenarios need what only the fake can do (hold a write in flight,
refuse single bulk items) and run against it alone.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from elastic_cluster import FakeCluster, Faults, faulty_node
from elasticsearch import AsyncElasticsearch, NotFoundError
from store_samples import sample_record

from mme_node.errors import AlreadyExists, Conflict, MMEError, NotFound, ServiceUnavailable
from mme_node.model import PatientRecord
from mme_node.stores.codec import decode_record, encode_record
from mme_node.stores.elastic import ElasticsearchPatientStore
from mme_node.stores.elastic.mapping import IndexNames, ObservedTermsOnly, document_id
from mme_node.stores.elastic.requests import ACK_TIMEOUT, MASTER_TIMEOUT, Backoff, connect

pytestmark = pytest.mark.anyio

FAKE_URL = "http://es.test:9200"
OLD = "2024-04-26"
NEW = "2025-01-16"
REAL_CLUSTER_SKIP = "ELASTICSEARCH_URL not set: fault scenarios against a real cluster skipped"

BACKENDS = [
    "fake",
    pytest.param(
        "real",
        marks=pytest.mark.skipif(not os.environ.get("ELASTICSEARCH_URL"), reason=REAL_CLUSTER_SKIP),
    ),
]


@dataclass
class Rig:
    """A store with faults in front of it, and a client seeing the cluster as it is."""

    store: ElasticsearchPatientStore
    faults: Faults
    look: AsyncElasticsearch
    names: IndexNames
    cluster: FakeCluster | None
    another_node: Callable[..., ElasticsearchPatientStore]
    pauses: list[float] = field(default_factory=list)

    @property
    def old(self) -> str:
        return self.names.index(OLD)

    @property
    def new(self) -> str:
        return self.names.index(NEW)

    async def on(self, index: str) -> bool:
        """Whether both aliases point to ``index`` alone."""
        aliased = await self.aliased()
        return aliased == {self.names.read_alias: {index}, self.names.write_alias: {index}}

    async def undone(self) -> bool:
        """Whether a failed swap left things as before it: aliases, writes, no new index."""
        return (
            await self.on(self.old)
            and not await self.blocked(self.old)
            and not await self.exists(self.new)
        )

    async def aliased(self) -> dict[str, set[str]]:
        """Alias -> the indexes behind it, now."""
        found: dict[str, set[str]] = {}
        for alias in (self.names.read_alias, self.names.write_alias):
            try:
                found[alias] = set((await self.look.indices.get_alias(name=alias)).body)
            except NotFoundError:
                found[alias] = set()
        return found

    async def exists(self, index: str) -> bool:
        return bool(await self.look.indices.exists(index=index))

    async def blocked(self, index: str) -> bool:
        settings = await self.look.indices.get_settings(
            index=index, name="index.blocks.write", flat_settings=True
        )
        return settings.body[index]["settings"].get("index.blocks.write") == "true"

    async def stored(self, index: str, record: PatientRecord) -> PatientRecord | None:
        """The record stored for ``record``'s key in ``index``, or None."""
        try:
            found = await self.look.get(index=index, id=document_id(*record.key))
        except NotFoundError:
            return None
        return decode_record(found["_source"]["record"])

    async def load(self, count: int) -> list[PatientRecord]:
        records = [sample_record(number) for number in range(1, count + 1)]
        report = await self.store.import_many(records)
        assert (report.imported, report.rejected) == (count, [])
        return records


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """An open store on its own indexes of release ``OLD``, with no fault armed yet."""
    real = request.param == "real"
    url = os.environ["ELASTICSEARCH_URL"] if real else FAKE_URL
    cluster = None if real else FakeCluster()
    faults = Faults()
    names = IndexNames(f"mme-test-{uuid.uuid4().hex[:12]}")
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    nodes: list[ElasticsearchPatientStore] = []

    def node(*, faulty: bool = False, **options: object) -> ElasticsearchPatientStore:
        """A store on the same indexes: this rig's (behind the faults) or another node's."""
        nodes.append(
            ElasticsearchPatientStore(
                url,
                index_prefix=names.prefix,
                hpo_release=OLD,
                client=connect(
                    url, node_class=faulty_node(faults if faulty else Faults(), cluster)
                ),
                backoff=Backoff(sleep=pause),
                **options,  # type: ignore[arg-type]
            )
        )
        return nodes[-1]

    store = node(faulty=True)
    look = connect(url, node_class=faulty_node(Faults(), cluster))
    await store.open()
    rig = Rig(store, faults, look, names, cluster, node, pauses)
    try:
        yield rig
    finally:
        await look.indices.delete(index=[rig.old, rig.new], ignore_unavailable=True)
        await look.close()
        for each in nodes:
            await each.close()
    assert faults.unbounded == []
    if cluster is not None:
        assert cluster.unbounded == [], "requests without a deadline"
        assert cluster.unplanned == []


def only_fake(rig: Rig) -> FakeCluster:
    """The fake cluster of a scenario run on it alone (``parametrize("rig", ["fake"])``)."""
    assert rig.cluster is not None
    return rig.cluster


# -- the swap ---------------------------------------------------------------------


@pytest.mark.parametrize("rig", ["fake"], indirect=True)
async def test_fake_cluster_flags_requests_sent_without_a_deadline(rig: Rig) -> None:
    cluster = only_fake(rig)
    client = connect(FAKE_URL, node_class=faulty_node(Faults(), cluster))

    await client.options(request_timeout=None).count(index=rig.names.read_alias)

    assert cluster.unbounded == [f"POST /{rig.names.read_alias}/_count"]
    cluster.unbounded.clear()
    await client.close()


async def test_swap_moves_both_aliases_to_the_rebuilt_index_and_deletes_the_old(rig: Rig) -> None:
    records = await rig.load(3)

    rebuilt = await rig.store.swap_release(NEW, ObservedTermsOnly())

    assert rebuilt == 3
    assert await rig.on(rig.new)
    assert not await rig.exists(rig.old)
    for record in records:
        stored = await rig.stored(rig.new, record)
        assert stored is not None and stored.hpo_release == NEW
    assert (rig.store.index, rig.store.hpo_release) == (rig.new, NEW)


@pytest.mark.parametrize("rig", ["fake"], indirect=True)
async def test_alias_change_is_sent_once_with_a_deadline_beyond_elasticsearchs(rig: Rig) -> None:
    cluster = only_fake(rig)
    await rig.load(1)
    cluster.requests.clear()

    await rig.store.swap_release(NEW, ObservedTermsOnly())

    changes = [r for r in cluster.requests if (r.method, r.url.path) == ("POST", "/_aliases")]
    assert len(changes) == 1
    waits = {name: changes[0].url.params[name] for name in ("master_timeout", "timeout")}
    assert waits == {"master_timeout": MASTER_TIMEOUT, "timeout": ACK_TIMEOUT}
    elasticsearch_gives_up = sum(float(wait.removesuffix("s")) for wait in waits.values())
    assert changes[0].extensions["timeout"]["read"] > elasticsearch_gives_up


async def test_another_node_follows_a_swap_without_swapping_again(rig: Rig) -> None:
    records = await rig.load(1)
    follower = rig.another_node()
    with pytest.raises(MMEError, match="swap_release has not run"):
        await follower.use_release(NEW, ObservedTermsOnly())

    await rig.store.swap_release(NEW, ObservedTermsOnly())
    await follower.use_release(NEW, ObservedTermsOnly())

    assert (follower.index, follower.hpo_release) == (rig.new, NEW)
    assert (await follower.get("clinic-a", records[0].patient.id)).hpo_release == NEW


async def test_swap_carries_acknowledged_writes_not_yet_refreshed(rig: Rig) -> None:
    await rig.load(2)
    await rig.look.indices.put_settings(index=rig.old, settings={"index.refresh_interval": "-1"})
    late = sample_record(3)
    await rig.look.index(  # acknowledged, and no refresh will make it searchable
        index=rig.names.write_alias,
        id=document_id(*late.key),
        document={"record": _encoded(late)},
    )

    assert await rig.store.swap_release(NEW, ObservedTermsOnly()) == 3

    assert await rig.stored(rig.new, late) is not None


@pytest.mark.parametrize("rig", ["fake"], indirect=True)
async def test_swap_waits_for_a_write_in_flight_before_scanning(rig: Rig) -> None:
    cluster = only_fake(rig)
    await rig.load(1)
    cluster.hold_writes(rig.old)
    late = sample_record(2)
    saving = asyncio.create_task(rig.another_node().save(late))
    while cluster.writes_in_flight() == 0:
        await asyncio.sleep(0)
    swapping = asyncio.create_task(rig.store.swap_release(NEW, ObservedTermsOnly()))
    # The write completes when the block waits for it, or (a block that does
    # not wait) only after the swap: then it lands in a deleted index.
    draining = asyncio.create_task(cluster.draining.wait())
    await asyncio.wait([draining, swapping], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    cluster.release_writes()
    draining.cancel()

    stored, created = await asyncio.wait_for(saving, 10)
    assert await asyncio.wait_for(swapping, 10) == 2
    assert created and await rig.stored(rig.new, late) == replace(stored, hpo_release=NEW)


async def test_write_during_a_swap_is_refused_or_carried_over(rig: Rig) -> None:
    await rig.load(2)
    writer = rig.another_node()
    outcomes: list[object] = []

    async def save_meanwhile() -> None:
        try:
            outcomes.append(await writer.save(sample_record(1)))
        except ServiceUnavailable as refused:
            outcomes.append(refused)

    rig.faults.add("PUT", f"/{rig.new}/_bulk", "run_before", action=save_meanwhile)

    await rig.store.swap_release(NEW, ObservedTermsOnly())

    (outcome,) = outcomes
    assert isinstance(outcome, ServiceUnavailable)
    assert "does not accept writes" in outcome.message
    stored, _ = await writer.save(sample_record(1))
    assert stored.version == 2
    assert await rig.stored(rig.new, sample_record(1)) == stored


@pytest.mark.parametrize("kind", ["lost_after", "dropped_after"])
async def test_alias_change_answer_lost_after_it_applied_completes_the_swap(
    rig: Rig, kind: str
) -> None:
    records = await rig.load(2)
    rig.faults.add("POST", "/_aliases", kind)

    assert await rig.store.swap_release(NEW, ObservedTermsOnly()) == 2

    assert await rig.on(rig.new)
    assert all([await rig.stored(rig.new, record) is not None for record in records])
    assert not await rig.exists(rig.old)


async def test_alias_change_lost_before_it_applied_undoes_the_swap(rig: Rig) -> None:
    records = await rig.load(2)
    rig.faults.add("POST", "/_aliases", "lost_before")

    with pytest.raises(ServiceUnavailable, match="not answering"):
        await rig.store.swap_release(NEW, ObservedTermsOnly())

    assert await rig.undone()
    stored, created = await rig.store.save(records[0])
    assert (created, stored.version) == (False, 2)


async def test_alias_change_of_unknown_outcome_deletes_nothing(rig: Rig) -> None:
    await rig.load(2)
    rig.faults.add("POST", "/_aliases", "lost_before")
    # The swap reads both aliases once before it starts; every later read is lost.
    rig.faults.add("GET", "/_alias/.*", "lost_before", times=100, skip=2)

    with pytest.raises(ServiceUnavailable, match="unknown outcome") as raised:
        await rig.store.swap_release(NEW, ObservedTermsOnly())

    assert f"delete {rig.old}" in raised.value.message
    assert await rig.exists(rig.old) and await rig.exists(rig.new)
    assert await rig.blocked(rig.old)
    assert await rig.on(rig.old)


async def test_swap_is_refused_while_another_holds_the_write_block(rig: Rig) -> None:
    await rig.load(1)
    await rig.look.indices.add_block(index=rig.old, block="write")

    with pytest.raises(Conflict, match="another HPO release swap"):
        await rig.store.swap_release(NEW, ObservedTermsOnly())

    assert await rig.blocked(rig.old)
    assert not await rig.exists(rig.new)


@pytest.mark.parametrize("kind", ["lost_after", "dropped_after"])
async def test_add_block_answer_lost_lifts_the_block_and_builds_nothing(
    rig: Rig, kind: str
) -> None:
    records = await rig.load(1)
    rig.faults.add("PUT", f"/{rig.old}/_block/write", kind)

    with pytest.raises(ServiceUnavailable):
        await rig.store.swap_release(NEW, ObservedTermsOnly())

    assert not await rig.blocked(rig.old)
    assert not await rig.exists(rig.new)
    assert (await rig.store.save(records[0]))[0].version == 2


async def test_stalled_scroll_undoes_the_swap(rig: Rig) -> None:
    await rig.load(2)
    rig.faults.add("POST", "/_search/scroll", "stall")

    with pytest.raises(ServiceUnavailable, match="not answering"):
        await rig.store.swap_release(NEW, ObservedTermsOnly())

    assert await rig.undone()


async def test_lost_scroll_page_is_never_asked_for_again(rig: Rig) -> None:
    await rig.load(2)
    rig.faults.add("POST", "/_search/scroll", "lost_after")

    with pytest.raises(ServiceUnavailable):
        await rig.store.swap_release(NEW, ObservedTermsOnly())

    assert rig.faults.count("POST", "/_search/scroll") == 1
    assert await rig.undone()


async def test_rebuild_rides_out_a_429_storm_and_a_lost_bulk_answer(rig: Rig) -> None:
    records = await rig.load(3)
    rig.faults.add("PUT", f"/{rig.new}/_bulk", "busy", times=2)
    rig.faults.add("PUT", f"/{rig.new}/_bulk", "lost_after")

    assert await rig.store.swap_release(NEW, ObservedTermsOnly()) == 3

    assert len(rig.pauses) == 2  # after each 429; what the lost answer carried had landed
    assert all([await rig.stored(rig.new, record) is not None for record in records])


# -- document writes ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lost_after", "dropped_after"])
async def test_save_whose_answer_is_lost_after_it_applied_is_saved_once(
    rig: Rig, kind: str
) -> None:
    rig.faults.add("PUT", f"/{rig.names.write_alias}/_doc/.*", kind)

    stored, created = await rig.store.save(sample_record(1))

    assert created and stored.version == 1
    assert await rig.store.get("clinic-a", stored.patient.id) == stored
    raw = await rig.look.get(index=rig.old, id=document_id(*stored.key))
    assert raw["_version"] == 1


@pytest.mark.parametrize("kind", ["lost_after", "dropped_after"])
async def test_replace_whose_answer_is_lost_is_not_a_false_conflict(rig: Rig, kind: str) -> None:
    first, _ = await rig.store.save(sample_record(1))
    rig.faults.add("PUT", f"/{rig.names.write_alias}/_doc/.*", kind)

    stored, created = await rig.store.save(sample_record(1), expected_version=1)

    assert not created and stored.version == 2
    assert await rig.store.get("clinic-a", first.patient.id) == stored


@pytest.mark.parametrize("kind", ["lost_after", "dropped_after"])
async def test_create_only_whose_answer_is_lost_is_not_a_false_already_exists(
    rig: Rig, kind: str
) -> None:
    rig.faults.add("PUT", f"/{rig.names.write_alias}/_doc/.*", kind)

    stored, created = await rig.store.save(sample_record(1), create_only=True)

    assert created and stored.version == 1
    assert await rig.store.get("clinic-a", stored.patient.id) == stored


async def test_create_only_that_another_node_beats_is_refused_and_keeps_theirs(rig: Rig) -> None:
    theirs = replace(sample_record(1), hpo_release=NEW)
    won: list[PatientRecord] = []

    async def create_meanwhile() -> None:
        stored, _ = await rig.another_node().save(theirs, create_only=True)
        won.append(stored)

    # Between our read (nothing there) and our op_type=create write.
    rig.faults.add(
        "PUT", f"/{rig.names.write_alias}/_doc/.*", "run_before", action=create_meanwhile
    )

    with pytest.raises(AlreadyExists, match="case-000001"):
        await rig.store.save(sample_record(1), create_only=True)

    assert await rig.store.get("clinic-a", "case-000001") == won[0]


async def test_save_lost_before_it_arrived_is_sent_again(rig: Rig) -> None:
    rig.faults.add("PUT", f"/{rig.names.write_alias}/_doc/.*", "lost_before")

    stored, created = await rig.store.save(sample_record(1))

    assert created and stored.version == 1
    assert rig.faults.count("PUT", f"/{rig.names.write_alias}/_doc/.*") == 2
    assert await rig.store.get("clinic-a", stored.patient.id) == stored


async def test_save_waits_out_a_429_storm_with_growing_pauses(rig: Rig) -> None:
    rig.faults.add("PUT", f"/{rig.names.write_alias}/_doc/.*", "busy", times=3)

    stored, _ = await rig.store.save(sample_record(1))

    assert stored.version == 1
    first, second, third = rig.pauses
    assert 0.1 <= first <= 0.2 <= second <= 0.4 <= third <= 0.8


async def test_save_refused_at_every_attempt_stores_nothing(rig: Rig) -> None:
    rig.faults.add("PUT", f"/{rig.names.write_alias}/_doc/.*", "busy", times=5)

    with pytest.raises(ServiceUnavailable, match="429"):
        await rig.store.save(sample_record(1))

    assert len(rig.pauses) == 4
    with pytest.raises(NotFound):
        await rig.store.get("clinic-a", sample_record(1).patient.id)


@pytest.mark.parametrize("rig", ["fake"], indirect=True)
async def test_save_with_refreshes_off_is_reported_saved(rig: Rig) -> None:
    await rig.look.indices.put_settings(index=rig.old, settings={"index.refresh_interval": "-1"})

    stored, created = await rig.store.save(sample_record(1))

    assert created and await rig.store.get("clinic-a", stored.patient.id) == stored


@pytest.mark.parametrize("kind", ["lost_after", "dropped_after"])
async def test_delete_whose_answer_is_lost_is_not_reported_missing(rig: Rig, kind: str) -> None:
    stored, _ = await rig.store.save(sample_record(1))
    rig.faults.add("DELETE", f"/{rig.names.write_alias}/_doc/.*", kind)

    await rig.store.delete("clinic-a", stored.patient.id)

    with pytest.raises(NotFound):
        await rig.store.get("clinic-a", stored.patient.id)


async def test_import_whose_bulk_answer_is_lost_reports_each_record_once(rig: Rig) -> None:
    await rig.store.save(sample_record(1))
    rig.faults.add("PUT", f"/{rig.names.write_alias}/_bulk", "lost_after")

    report = await rig.store.import_many([sample_record(1), sample_record(2)])

    assert (report.imported, report.rejected) == (2, [])
    versions = [
        (await rig.store.get("clinic-a", sample_record(n).patient.id)).version for n in (1, 2)
    ]
    assert versions == [2, 1]


@pytest.mark.parametrize("rig", ["fake"], indirect=True)
async def test_import_sends_again_the_items_refused_as_busy(rig: Rig) -> None:
    only_fake(rig).busy_items = 1

    report = await rig.store.import_many([sample_record(1), sample_record(2)])

    assert (report.imported, report.rejected, len(rig.pauses)) == (2, [], 1)


async def test_import_into_a_missing_index_says_so_and_creates_none(rig: Rig) -> None:
    await rig.look.indices.delete(index=rig.old)

    with pytest.raises(ServiceUnavailable, match="no patient index"):
        await rig.store.import_many([sample_record(1)])

    assert not await rig.exists(rig.names.write_alias)


# -- scans and settings -----------------------------------------------------------------


async def test_export_from_a_stalled_cluster_is_service_unavailable_not_a_hang(rig: Rig) -> None:
    await rig.load(1)
    rig.faults.add("POST", f"/{rig.names.read_alias}/_search", "stall")

    with pytest.raises(ServiceUnavailable, match="not answering"):
        [record async for record in rig.store.iter_records()]


async def test_open_refuses_a_retrieval_depth_beyond_the_result_window(rig: Rig) -> None:
    deep = rig.another_node(retrieval_depth=10_001)

    with pytest.raises(MMEError, match="'match_retrieval_depth' is 10001, above"):
        await deep.open()


async def test_open_accepts_a_depth_within_a_raised_result_window(rig: Rig) -> None:
    await rig.look.indices.put_settings(index=rig.old, settings={"index.max_result_window": 20_000})
    deep = rig.another_node(retrieval_depth=20_000)

    await deep.open()

    assert deep.index == rig.old


def _encoded(record: PatientRecord) -> str:
    now = datetime.now(UTC)
    return encode_record(replace(record, version=1, created=now, updated=now))
