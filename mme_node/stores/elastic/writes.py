"""Patient document writes that are applied once and reported as they happened.

A write whose answer is lost (a timeout, a dropped connection, a proxy's 502
or 504) may or may not have been applied. Sending it again blindly turns a
create that landed into a false "already exists" and a replace that landed
into a second version. So every write here is guarded (``op_type=create``,
or ``if_seq_no`` and ``if_primary_term`` of the version it replaces), sent by
a client that never repeats it, and after an unsure failure the document is
read back (a GET is real-time in Elasticsearch) and compared with what was
sent:

- it holds exactly the record text sent: the write landed;
- it is still the version the write was guarded on: it did not land, and the
  same write (same guard, same text) goes again; should the first attempt
  land late after all, the second is refused with 409 and the read-back
  recognises the first;
- anything else: another writer changed the document in between.

429 and 503 mean Elasticsearch performed nothing: the same write goes again
after a :class:`~mme_node.stores.elastic.requests.Backoff` pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import AsyncElasticsearch, ConflictError, NotFoundError

from mme_node.errors import ServiceUnavailable
from mme_node.model import PatientRecord
from mme_node.stores.codec import decode_record
from mme_node.stores.elastic.errors import (
    error_reason,
    error_type,
    is_index_failure,
    is_missing_index,
    item_failure,
)
from mme_node.stores.elastic.mapping import Document
from mme_node.stores.elastic.queries import RECORD_ONLY
from mme_node.stores.elastic.requests import (
    BUSY_STATUSES,
    SHARD_WAIT,
    Backoff,
    is_busy,
    is_unsure,
    sent_once,
)


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A patient document as read: its record, the record's stored text, its sequence numbers."""

    record: PatientRecord
    text: str
    seq_no: int
    primary_term: int

    @classmethod
    def found_in(cls, answer: Document) -> StoredDocument | None:
        """The document of a get (or one mget entry), or None if there is none."""
        if not answer.get("found"):
            return None
        text = answer["_source"]["record"]
        return cls(decode_record(text), text, answer["_seq_no"], answer["_primary_term"])


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One patient document to write, guarded by the version it replaces (None: create)."""

    doc_id: str
    record: PatientRecord
    document: Document
    current: StoredDocument | None

    @property
    def patient_id(self) -> str:
        return self.record.patient.id

    def guard(self) -> dict[str, Any]:
        """The index API parameters that make this write apply to ``current`` only."""
        if self.current is None:
            return {"op_type": "create"}
        return {"if_seq_no": self.current.seq_no, "if_primary_term": self.current.primary_term}

    def bulk_action(self) -> Document:
        """The bulk action line of this write (the target index is the request's)."""
        if self.current is None:
            return {"create": {"_id": self.doc_id}}
        return {"index": {"_id": self.doc_id, **self.guard()}}

    def landed_in(self, found: StoredDocument | None) -> bool:
        """Whether ``found`` (read after the write) is this write's own record."""
        return found is not None and found.text == self.document["record"]

    def untouched_in(self, found: StoredDocument | None) -> bool:
        """Whether ``found`` is still what this write was guarded on (so it did not land)."""
        if self.current is None:
            return found is None
        return found is not None and (found.seq_no, found.primary_term) == (
            self.current.seq_no,
            self.current.primary_term,
        )


@dataclass(slots=True)
class BatchOutcome:
    """What became of a batch of writes: each write in exactly one list."""

    landed: list[PlannedWrite] = field(default_factory=list)
    changed: list[PlannedWrite] = field(default_factory=list)
    """Another writer changed the document first (the write's guard failed)."""
    refused: list[tuple[PlannedWrite, str]] = field(default_factory=list)
    """Elasticsearch refused the record itself, with its reason (a mapping error...)."""


class DocumentWriter:
    """Reads and writes patient documents in ``target``: an alias, or an index by name.

    ``require_alias`` makes Elasticsearch refuse a write when ``target`` is not
    an alias (``require_alias=true``, index and bulk APIs since 7.10), instead
    of creating an index of that name with a guessed mapping: the aliases could
    never be created after that.
    """

    def __init__(
        self,
        client: AsyncElasticsearch,
        target: str,
        *,
        where: str,
        backoff: Backoff,
        require_alias: bool,
    ) -> None:
        self.target = target
        self._reader = client
        self._writer = sent_once(client)
        self._where = where
        self._backoff = backoff
        # None leaves the parameter out of the request.
        self._require_alias = True if require_alias else None

    # -- reads ---------------------------------------------------------------

    async def read(self, doc_id: str, *, through: str | None = None) -> StoredDocument | None:
        """The document now (real-time), or None; a missing index raises.

        ``through`` reads via another alias than the target (what readers see).
        """
        try:
            response = await self._reader.get(
                index=through or self.target, id=doc_id, source_includes=RECORD_ONLY
            )
        except NotFoundError as error:
            if is_missing_index(error):
                raise
            return None
        return StoredDocument.found_in(response.body)

    async def read_many(
        self, doc_ids: Sequence[str], *, through: str | None = None
    ) -> dict[str, StoredDocument | None]:
        """The documents now, by id (``through`` as for :meth:`read`).

        Any per-document failure raises: it is the index's. An mget answers a
        missing index with one error per document (``index_not_found_exception``),
        which this turns into one clear error.
        """
        response = await self._reader.mget(
            index=through or self.target, ids=list(doc_ids), source_includes=RECORD_ONLY
        )
        found: dict[str, StoredDocument | None] = {}
        for answer in response["docs"]:
            if "error" in answer:
                raise item_failure(answer, self._where, default_status=503)
            found[answer["_id"]] = StoredDocument.found_in(answer)
        return found

    # -- one document ----------------------------------------------------------

    async def write(self, plan: PlannedWrite) -> bool:
        """Write ``plan`` and wait for a refresh: True once it landed, False if its guard failed.

        Raises the last failure when Elasticsearch stays busy or silent, and
        :class:`ServiceUnavailable` when it cannot be asked whether the write
        landed.
        """
        unsure = False
        waits = self._backoff.waits()
        while True:
            try:
                await self._writer.index(
                    index=self.target,
                    id=plan.doc_id,
                    document=plan.document,
                    refresh="wait_for",
                    timeout=SHARD_WAIT,
                    require_alias=self._require_alias,
                    **plan.guard(),
                )
                return True
            except ConflictError:
                # After an unsure attempt the conflicting write may be our own.
                return unsure and plan.landed_in(await self._read_back(plan))
            except Exception as error:
                if not (is_busy(error) or is_unsure(error)):
                    raise
                if is_unsure(error):
                    unsure = True
                    found = await self._read_back(plan)
                    if plan.landed_in(found):
                        return True
                    if not plan.untouched_in(found):
                        return False
                wait = next(waits, None)
                if wait is None:
                    raise
            await self._backoff.sleep(wait)

    async def delete(self, doc_id: str) -> bool:
        """Delete the document and wait for a refresh: True if it was there, False if not."""
        unsure = False
        waits = self._backoff.waits()
        while True:
            try:
                await self._writer.delete(
                    index=self.target, id=doc_id, refresh="wait_for", timeout=SHARD_WAIT
                )
                return True
            except NotFoundError as error:
                if is_missing_index(error):
                    raise
                # Gone after an unsure attempt: that attempt deleted it.
                return unsure
            except Exception as error:
                if not (is_busy(error) or is_unsure(error)):
                    raise
                if is_unsure(error):
                    unsure = True
                    if await self._read_back_id(doc_id, "deletion") is None:
                        return True
                wait = next(waits, None)
                if wait is None:
                    raise
            await self._backoff.sleep(wait)

    # -- many documents --------------------------------------------------------

    async def write_many(self, plans: Sequence[PlannedWrite]) -> BatchOutcome:
        """Write ``plans`` (distinct documents) in one bulk request, no refresh.

        Items refused as busy go again after a pause; after an unsure failure
        of the whole request the documents are read back and only those that
        did not land go again. Raises when the index itself refuses (write
        block, missing index, privilege) or Elasticsearch stays busy.
        """
        outcome = BatchOutcome()
        pending = list(plans)
        sent_unsure: set[str] = set()
        waits = self._backoff.waits()
        while pending:
            try:
                response = await self._writer.bulk(
                    index=self.target,
                    operations=_bulk_lines(pending),
                    timeout=SHARD_WAIT,
                    require_alias=self._require_alias,
                )
            except Exception as error:
                if not (is_busy(error) or is_unsure(error)):
                    raise
                if is_unsure(error):
                    sent_unsure.update(plan.doc_id for plan in pending)
                    pending = await self._settle(pending, outcome)
                last_failure: BaseException | str = error
            else:
                pending, last_failure = await self._sort_items(
                    pending, response["items"], outcome, sent_unsure
                )
            if pending:
                wait = next(waits, None)
                if wait is None:
                    raise _still_busy(len(pending), last_failure, self._where)
                await self._backoff.sleep(wait)
        return outcome

    # -- machinery ---------------------------------------------------------------

    async def _sort_items(
        self,
        sent: list[PlannedWrite],
        items: list[Document],
        outcome: BatchOutcome,
        sent_unsure: set[str],
    ) -> tuple[list[PlannedWrite], str]:
        """File each item's result into ``outcome``; return the busy ones and the last refusal."""
        busy: list[PlannedWrite] = []
        conflicted: list[PlannedWrite] = []
        last_refusal = ""
        for plan, item in zip(sent, items, strict=True):
            result = next(iter(item.values()))
            status = result.get("status", 500)
            if status < 300:
                outcome.landed.append(plan)
            elif status in BUSY_STATUSES:
                busy.append(plan)
                last_refusal = f"{status} {error_type(result)}"
            elif is_index_failure(result):
                raise item_failure(result, self._where)
            elif status == 409:
                conflicted.append(plan)
            else:
                outcome.refused.append((plan, _refusal(result)))
        unsure = [plan for plan in conflicted if plan.doc_id in sent_unsure]
        outcome.changed += [plan for plan in conflicted if plan.doc_id not in sent_unsure]
        if unsure:
            found = await self._read_back_many(unsure)
            for plan in unsure:
                landed = plan.landed_in(found[plan.doc_id])
                (outcome.landed if landed else outcome.changed).append(plan)
        return busy, last_refusal

    async def _settle(self, sent: list[PlannedWrite], outcome: BatchOutcome) -> list[PlannedWrite]:
        """After an unsure bulk: file what landed or was changed, return what must go again."""
        found = await self._read_back_many(sent)
        again: list[PlannedWrite] = []
        for plan in sent:
            now = found[plan.doc_id]
            if plan.landed_in(now):
                outcome.landed.append(plan)
            elif plan.untouched_in(now):
                again.append(plan)
            else:
                outcome.changed.append(plan)
        return again

    async def _read_back(self, plan: PlannedWrite) -> StoredDocument | None:
        with self._unconfirmed(f"the save of patient {plan.patient_id!r}", "look before retrying"):
            return await self.read(plan.doc_id)

    async def _read_back_id(self, doc_id: str, what: str) -> StoredDocument | None:
        with self._unconfirmed(f"the {what}", "look before retrying"):
            return await self.read(doc_id)

    async def _read_back_many(
        self, plans: Iterable[PlannedWrite]
    ) -> dict[str, StoredDocument | None]:
        ids = [plan.doc_id for plan in plans]
        with self._unconfirmed(
            f"a batch of {len(ids)} patient writes", "importing the same records again is safe"
        ):
            return await self.read_many(ids)

    @contextmanager
    def _unconfirmed(self, what: str, advice: str) -> Iterator[None]:
        """A read-back that fails: the write it was to settle may or may not have landed."""
        try:
            yield
        except Exception as error:
            if not (is_busy(error) or is_unsure(error)):
                raise
            raise ServiceUnavailable(
                f"Elasticsearch at {self._where} did not confirm {what} and cannot be asked "
                f"whether it was applied ({error}): it may have been; {advice}"
            ) from error


def _bulk_lines(plans: Iterable[PlannedWrite]) -> list[Document]:
    lines: list[Document] = []
    for plan in plans:
        lines += [plan.bulk_action(), plan.document]
    return lines


def _refusal(result: Document) -> str:
    """Why Elasticsearch refused one record: ``type: reason``."""
    kind, reason = error_type(result) or "error", error_reason(result)
    return f"{kind}: {reason}" if reason else kind


def _still_busy(count: int, last: BaseException | str, where: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Elasticsearch at {where} is overloaded or unavailable: {count} patient writes "
        f"were refused at every attempt (last: {last}); try again later"
    )
