"""The HPO release swap of the Elasticsearch store, safe under timeouts and retries.

Patients of one HPO release live in one index behind the ``-read`` and
``-write`` aliases. A swap rebuilds every patient into the index of the new
release and moves both aliases there. What each step relies on (Elasticsearch
8.x reference and source, elasticsearch-py 8.x):

1. **Block writes to the live index with the add-block API**
   (``PUT /{index}/_block/write``): unlike setting ``index.blocks.write``, it
   answers only once every shard has finished the writes in flight
   (reference, "Index blocks"; ``MetadataIndexStateService.addIndexBlock``:
   temporary block, shard verification, final block), so no acknowledged
   write can still land in the old index after it. Its answer also says
   whether this request placed the block (``indices`` lists the index) or
   found it in place (``indices`` empty): the block doubles as a lock, and a
   second swap is refused instead of deleting the first one's work.
2. Create the new index (an index of that name left by an interrupted swap is
   deleted first: no alias points to it, and the lock keeps other swaps out).
3. **Refresh the old index, then count it**: a scroll only sees refreshed
   documents, and acknowledged writes need not be refreshed yet.
4. **Scan** the old index (a scroll; every page with a deadline and never
   sent twice, see :mod:`mme_node.stores.elastic.requests`), rebuild each
   record for the new release and bulk it into the new index
   (:class:`~mme_node.stores.elastic.writes.DocumentWriter`).
5. Refresh the new index and check that it holds as many patients as the old.
6. **Move both aliases in one ``_aliases`` request**, which Elasticsearch
   applies atomically (reference, "Aliases API"), with ``must_exist`` on the
   removals (since 7.9) so that it applies only if the aliases are still where
   this swap found them. It is sent once, with Elasticsearch's deadlines below the
   client's. If the answer is anything but an acknowledgement, the swap reads
   where the aliases are and decides from that: moved, the swap is done; not
   moved, it is undone; unknown, nothing is deleted and the error says so.
7. Delete the old index. It keeps its write block until then: a node that
   has not applied the alias change yet gets a refusal, not a lost write.

Undoing (any failure before the aliases moved) lifts the block on the old
index and deletes the new index, but only if no alias points to it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from elasticsearch import AsyncElasticsearch, NotFoundError
from elasticsearch.helpers import async_scan

from mme_node.errors import Conflict, MMEError, ServiceUnavailable
from mme_node.model import PatientRecord
from mme_node.stores.base import ProgressCallback, Rejection
from mme_node.stores.codec import CodecError, decode_record
from mme_node.stores.elastic.mapping import (
    Document,
    IndexNames,
    TermWeights,
    index_body,
    patient_document,
)
from mme_node.stores.elastic.queries import RECORD_ONLY
from mme_node.stores.elastic.requests import (
    ACK_TIMEOUT,
    BATCH,
    CLUSTER_CHANGE_TIMEOUT,
    MASTER_TIMEOUT,
    SCAN_TIMEOUT,
    SCROLL_KEEP_ALIVE,
    Backoff,
    sent_once,
)
from mme_node.stores.elastic.writes import BatchOutcome, DocumentWriter, PlannedWrite

log = logging.getLogger(__name__)

Rebuild = Callable[[PatientRecord], PatientRecord]


@dataclass(frozen=True, slots=True)
class SwapResult:
    """Where the patients are after a swap, and how many were rebuilt (0: nothing to do)."""

    index: str
    rebuilt: int


class ReleaseSwap:
    """Swaps the store's aliases (``names``) to a rebuilt index; one instance per store."""

    def __init__(
        self, client: AsyncElasticsearch, names: IndexNames, *, where: str, backoff: Backoff
    ) -> None:
        self.names = names
        self._reader = client
        self._changes = sent_once(client, CLUSTER_CHANGE_TIMEOUT)
        self._scans = sent_once(client, SCAN_TIMEOUT)
        self._where = where
        self._backoff = backoff

    async def live_index(self) -> str:
        """The one index both aliases point to; an error if they are missing or disagree."""
        read = await indexes_behind(self._reader, self.names.read_alias)
        write = await indexes_behind(self._reader, self.names.write_alias)
        if len(write) == 1 and read == write:
            return next(iter(write))
        if not write:
            raise MMEError(f"no index behind {self.names.write_alias}: open the store first")
        raise MMEError(
            f"the patient aliases disagree ({self.names.read_alias} -> {sorted(read)}, "
            f"{self.names.write_alias} -> {sorted(write)}): point both at one index "
            "(POST /_aliases) before swapping"
        )

    async def run(
        self,
        hpo_release: str,
        weights: TermWeights,
        rebuild: Rebuild,
        on_progress: ProgressCallback | None,
    ) -> SwapResult:
        """Rebuild every patient for ``hpo_release`` and move both aliases to its index.

        Nothing to do if the aliases already point there. Raises ``Conflict``
        while another swap holds the write block, ``MMEError`` naming the first
        records that cannot be rebuilt, ``ServiceUnavailable`` when
        Elasticsearch fails; in every case the live index stays the old one,
        open to writes again, unless the error says the outcome is unknown.
        """
        new = self.names.index(hpo_release)
        old = await self.live_index()
        if old == new:
            return SwapResult(new, 0)
        await self._block_writes(old)
        try:
            await self._recreate(new, hpo_release)
            expected = await self._patients_in(old)
            rebuilt = await self._rebuild(old, new, hpo_release, weights, rebuild, on_progress)
            if rebuilt != expected:
                raise ServiceUnavailable(
                    f"the scan of {old} at {self._where} returned {rebuilt} of its "
                    f"{expected} patients: the swap was undone, try again"
                )
            found = await self._patients_in(new)
            if found != expected:
                raise ServiceUnavailable(
                    f"{new} at {self._where} holds {found} patients after the rebuild, "
                    f"not {expected}: the swap was undone, try again"
                )
        except BaseException:
            await self._undo(old, new)
            raise
        await self._move_aliases(old, new)
        await self._drop_quietly(old)
        return SwapResult(new, rebuilt)

    # -- the steps -----------------------------------------------------------

    async def _block_writes(self, index: str) -> None:
        try:
            answer = await self._changes.indices.add_block(
                index=index, block="write", master_timeout=MASTER_TIMEOUT, timeout=ACK_TIMEOUT
            )
        except BaseException:
            # Unanswered or failed part-way: the block may be in place, and
            # placed by this request (had another swap held it, the answer
            # would have been "already blocked", not a failure).
            await self._unblock_quietly(index)
            raise
        placed = [entry for entry in answer.get("indices", []) if entry.get("name") == index]
        if not placed:
            raise Conflict(
                f"the patient index {index} already refuses writes: another HPO release swap "
                f"is running, or an interrupted one left its block; if none is running, "
                f"lift it ({_lift(index)}) and try again"
            )
        if not (answer.get("acknowledged") and answer.get("shards_acknowledged")):
            await self._unblock_quietly(index)
            raise ServiceUnavailable(
                f"Elasticsearch at {self._where} could not confirm that every shard of {index} "
                f"finished its writes in progress ({placed[0]}): the swap did not start; "
                "try again (see docs/elasticsearch.md if saves keep answering 503)"
            )

    async def _recreate(self, index: str, hpo_release: str) -> None:
        # An index of that name is a left-over of an interrupted swap: both
        # aliases point to the live index, and the write block keeps other
        # swaps out, so nothing else uses it.
        await self._changes.indices.delete(
            index=index, ignore_unavailable=True, master_timeout=MASTER_TIMEOUT, timeout=ACK_TIMEOUT
        )
        body = index_body(self.names, hpo_release)
        await self._changes.indices.create(
            index=index,
            settings=body["settings"],
            mappings=body["mappings"],
            master_timeout=MASTER_TIMEOUT,
            timeout=ACK_TIMEOUT,
        )

    async def _patients_in(self, index: str) -> int:
        """The number of documents in ``index`` once refreshed, every shard answering."""
        refreshed = await self._reader.indices.refresh(index=index)
        _require_every_shard(refreshed.body, f"refresh of {index}", self._where)
        counted = await self._reader.count(index=index)
        _require_every_shard(counted.body, f"count of {index}", self._where)
        return int(counted["count"])

    async def _rebuild(
        self,
        old: str,
        new: str,
        hpo_release: str,
        weights: TermWeights,
        rebuild: Rebuild,
        on_progress: ProgressCallback | None,
    ) -> int:
        """Scan ``old`` and write each record, rebuilt, into ``new``; the number written."""
        writer = DocumentWriter(
            self._reader, new, where=self._where, backoff=self._backoff, require_alias=False
        )
        rejected: list[Rejection] = []
        written = 0
        batch: list[PlannedWrite] = []
        async for hit in async_scan(
            self._scans,
            index=old,
            query={"query": {"match_all": {}}, "_source": RECORD_ONLY},
            size=BATCH,
            scroll=SCROLL_KEEP_ALIVE,
            request_timeout=SCAN_TIMEOUT,
            allow_partial_search_results=False,
        ):
            try:
                batch.append(_rebuilt(hit, hpo_release, weights, rebuild))
            except (MMEError, CodecError, ValueError) as error:
                rejected.append(Rejection(_patient_id(hit), str(error)))
            if len(batch) == BATCH:
                written += await self._write(writer, batch, rejected, on_progress)
                batch = []
        if batch:
            written += await self._write(writer, batch, rejected, on_progress)
        if rejected:
            raise _rebuild_failure(rejected, hpo_release)
        return written

    async def _write(
        self,
        writer: DocumentWriter,
        batch: list[PlannedWrite],
        rejected: list[Rejection],
        on_progress: ProgressCallback | None,
    ) -> int:
        outcome: BatchOutcome = await writer.write_many(batch)
        rejected += [Rejection(plan.patient_id, reason) for plan, reason in outcome.refused]
        rejected += [
            Rejection(plan.patient_id, "stored twice in the old index") for plan in outcome.changed
        ]
        if on_progress is not None:
            on_progress(len(batch))
        return len(outcome.landed)

    async def _move_aliases(self, old: str, new: str) -> None:
        """Move both aliases from ``old`` to ``new``, or undo the swap and raise."""
        try:
            answer = await self._changes.indices.update_aliases(
                actions=swap_actions(self.names, old, new),
                master_timeout=MASTER_TIMEOUT,
                timeout=ACK_TIMEOUT,
            )
            if answer.get("acknowledged") is True:
                return
            failure: BaseException = ServiceUnavailable(
                f"Elasticsearch at {self._where} did not acknowledge the alias change "
                f"from {old} to {new} within {ACK_TIMEOUT}"
            )
        except Exception as error:
            failure = error
        try:
            holders = await self._aliased_indexes()
        except Exception as error:
            raise ServiceUnavailable(
                f"the alias change from {old} to {new} at {self._where} has an unknown outcome "
                f"({failure}), and the aliases cannot be read ({error}): both indexes are kept "
                f"and {old} still refuses writes. Ask GET /_alias/{self.names.write_alias}: if "
                f"it names {new}, delete {old}; if it names {old}, lift its block "
                f"({_lift(old)}) and delete {new}"
            ) from error
        if holders == {new}:
            log.warning(
                "the alias change from %s to %s failed to answer (%s) but took effect",
                old,
                new,
                failure,
            )
            return
        await self._undo(old, new)
        raise failure

    async def _undo(self, old: str, new: str) -> None:
        """Reopen ``old`` to writes and delete ``new`` unless an alias points to it.

        Never raises: the failure that led here is the one to report. If the
        aliases moved to ``new`` after all (a swap cancelled while its alias
        change was under way), everything is left as it is.
        """
        try:
            holders = await self._aliased_indexes()
            if new in holders:
                log.error("the patient aliases point to %s: the swap took effect", new)
                return
            await self._unblock(old)
            await self._changes.indices.delete(
                index=new,
                ignore_unavailable=True,
                master_timeout=MASTER_TIMEOUT,
                timeout=ACK_TIMEOUT,
            )
        except Exception as error:
            log.error(
                "could not undo the swap from %s to %s (%s): if saves answer 503, lift the "
                "block (%s); delete %s unless an alias points to it",
                old,
                new,
                error,
                _lift(old),
                new,
            )

    async def _drop_quietly(self, old: str) -> None:
        try:
            await self._changes.indices.delete(
                index=old, master_timeout=MASTER_TIMEOUT, timeout=ACK_TIMEOUT
            )
        except Exception as error:
            log.warning("the swap is done, but %s could not be deleted (%s): delete it", old, error)

    # -- machinery -------------------------------------------------------------

    async def _unblock(self, index: str) -> None:
        # Resetting index.blocks.write removes the write block that add-block
        # leaves once it answered (the settings update drops INDEX_WRITE_BLOCK,
        # MetadataUpdateSettingsService.maybeUpdateClusterBlock); None rather
        # than false leaves no explicit setting behind.
        await self._changes.indices.put_settings(
            index=index,
            settings={"index.blocks.write": None},
            master_timeout=MASTER_TIMEOUT,
            timeout=ACK_TIMEOUT,
        )

    async def _unblock_quietly(self, index: str) -> None:
        try:
            await self._unblock(index)
        except Exception as error:
            log.error("could not lift the write block of %s (%s): %s", index, error, _lift(index))

    async def _aliased_indexes(self) -> set[str]:
        read = await indexes_behind(self._reader, self.names.read_alias)
        return read | await indexes_behind(self._reader, self.names.write_alias)


async def indexes_behind(client: AsyncElasticsearch, alias: str) -> set[str]:
    """The indexes ``alias`` points to now (none if there is no such alias)."""
    try:
        answer = await client.indices.get_alias(name=alias)
    except NotFoundError:
        return set()
    return set(answer.body)


def swap_actions(names: IndexNames, old: str, new: str) -> list[Document]:
    """One ``_aliases`` request moving both aliases from ``old`` to ``new``.

    Applied atomically, and only if both aliases still point to ``old``
    (``must_exist`` on a removal fails the whole request otherwise).
    """
    return [
        {"remove": {"index": old, "alias": names.read_alias, "must_exist": True}},
        {"remove": {"index": old, "alias": names.write_alias, "must_exist": True}},
        {"add": {"index": new, "alias": names.read_alias}},
        {"add": {"index": new, "alias": names.write_alias, "is_write_index": True}},
    ]


def _rebuilt(
    hit: Document, hpo_release: str, weights: TermWeights, rebuild: Rebuild
) -> PlannedWrite:
    record = dataclasses.replace(
        rebuild(decode_record(hit["_source"]["record"])), hpo_release=hpo_release
    )
    return PlannedWrite(hit["_id"], record, patient_document(record, weights), None)


def _lift(index: str) -> str:
    """How an operator lifts the write block of ``index`` by hand."""
    return f'PUT /{index}/_settings {{"index.blocks.write": null}}'


def _patient_id(hit: Document) -> str:
    """The patient id of a hit, for messages; the document id if the record is unreadable."""
    try:
        return decode_record(hit["_source"]["record"]).patient.id
    except (CodecError, KeyError):
        return str(hit.get("_id"))


def _require_every_shard(answer: Document, what: str, where: str) -> None:
    shards = answer.get("_shards", {})
    if shards.get("failed", 0):
        raise ServiceUnavailable(
            f"the {what} at {where} failed on {shards['failed']} of {shards.get('total')} "
            "shards: the swap was undone, try again"
        )


def _rebuild_failure(rejected: list[Rejection], hpo_release: str) -> MMEError:
    first = "; ".join(f"{r.patient_id}: {r.reason}" for r in rejected[:3])
    return MMEError(
        f"{len(rejected)} patients cannot be rebuilt for HPO release {hpo_release!r} "
        f"(first: {first}); the index of the current release stays in use"
    )
