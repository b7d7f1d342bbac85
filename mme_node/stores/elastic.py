"""The Elasticsearch patient store: the same records as SQLite, for clusters.

Each patient is one document (see :mod:`mme_node.stores.elastic_mapping`) in
the index of the active HPO release, reached through the ``{prefix}-read`` and
``{prefix}-write`` aliases. Writes from the API wait for a refresh
(``refresh=wait_for``) so a patient is searchable once its save returns, and
replace a document only if it is still the one read (``if_seq_no`` and
``if_primary_term``), which is how the protocol's integer ``version`` is kept
exact under concurrent writers.

Elasticsearch being down, overloaded or refusing the node's credentials is a
:class:`~mme_node.errors.ServiceUnavailable`; a write is reported done only
once Elasticsearch acknowledged it.

The client is an optional dependency: ``pip install 'mme-node[elasticsearch]'``.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from mme_node.errors import (
    Conflict,
    InvalidPatient,
    InvalidRequest,
    MMEError,
    NotFound,
)
from mme_node.model import Patient, PatientRecord
from mme_node.settings import Settings
from mme_node.stores.base import ImportReport, Page, ProgressCallback, Rejection, StoreHealth
from mme_node.stores.codec import CodecError, decode_record
from mme_node.stores.elastic_mapping import (
    Document,
    IndexNames,
    ObservedTermsOnly,
    TermWeights,
    document_id,
    index_body,
    patient_document,
)
from mme_node.stores.elastic_queries import (
    RECORD_ONLY,
    SEARCH_HEADER,
    candidate_searches,
    listing_search,
)

try:
    from elastic_transport import BaseNode, HttpxAsyncHttpNode
    from elasticsearch import AsyncElasticsearch, BadRequestError, ConflictError, NotFoundError
    from elasticsearch.helpers import async_scan, async_streaming_bulk
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the Elasticsearch store needs the Elasticsearch client: install mme-node[elasticsearch]"
    ) from error

from mme_node.stores.elastic_errors import (
    failure_from_status,
    is_missing_index,
    is_write_block,
    search_failure,
    translated_failures,
    without_credentials,
)

__all__ = [
    "ElasticsearchPatientStore",
    "TermWeights",
    "connect",
    "elasticsearch_store_from_settings",
]

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0
"""Seconds before a request is abandoned (and retried if it only read)."""

MAX_RETRIES = 2
HEALTH_TIMEOUT = 3.0
"""``/heartbeat`` must answer quickly even when Elasticsearch does not."""

IMPORT_BATCH = 500
MAX_RESULT_WINDOW = 10_000
"""Elasticsearch's default ``index.max_result_window``: listings stop there."""

_SAVE_ATTEMPTS = 5


def connect(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    node_class: type[BaseNode] = HttpxAsyncHttpNode,
) -> AsyncElasticsearch:
    """An async client on the httpx transport that retries reads and reconnects by itself.

    TLS certificates are always verified, against ``ca_file`` when given.
    """
    options: dict[str, Any] = {}
    if username:
        options["basic_auth"] = (username, password or "")
    if ca_file:
        options["ca_certs"] = ca_file
    return AsyncElasticsearch(
        url,
        node_class=node_class,
        request_timeout=REQUEST_TIMEOUT,
        max_retries=MAX_RETRIES,
        retry_on_timeout=True,
        **options,
    )


def elasticsearch_store_from_settings(
    settings: Settings, term_weights: TermWeights, *, hpo_release: str = "default"
) -> ElasticsearchPatientStore:
    """The store the ``elasticsearch_*`` settings describe, for the HPO release in use."""
    if not settings.elasticsearch_url:
        raise MMEError("setting 'elasticsearch_url' is required when 'store' is 'elasticsearch'")
    return ElasticsearchPatientStore(
        settings.elasticsearch_url,
        username=settings.elasticsearch_username or None,
        password=settings.elasticsearch_password or None,
        ca_file=settings.elasticsearch_ca_file or None,
        hpo_release=hpo_release,
        term_weights=term_weights,
    )


@dataclass(frozen=True, slots=True)
class _Stored:
    """A document as last read: its record and the sequence numbers guarding a replace."""

    record: PatientRecord
    seq_no: int
    primary_term: int


class ElasticsearchPatientStore:
    """A :class:`~mme_node.stores.base.PatientStore` in an Elasticsearch 8 cluster at ``url``.

    ``term_weights`` gives the ancestor closure and information content of HPO
    terms of ``hpo_release``; without it only the observed terms themselves are
    indexed. ``client`` replaces the client built from ``url`` and the
    credentials; the store closes it in :meth:`close` either way.
    """

    kind = "elasticsearch"

    def __init__(
        self,
        url: str,
        *,
        index_prefix: str = "mme-patients",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        hpo_release: str = "default",
        term_weights: TermWeights | None = None,
        client: AsyncElasticsearch | None = None,
    ) -> None:
        self.names = IndexNames(index_prefix)
        self.hpo_release = hpo_release
        self.index = self.names.index(hpo_release)
        self._weights: TermWeights = term_weights or ObservedTermsOnly()
        self._where = without_credentials(url)
        self._client = client or connect(url, username=username, password=password, ca_file=ca_file)
        # Writes are retried only when Elasticsearch said it did nothing (429,
        # 503): after a timeout or a proxy's 502/504 the first attempt may have
        # been applied, and repeating it would report a false conflict.
        self._writer = self._client.options(retry_on_timeout=False, retry_on_status=(429, 503))

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Create the release's index and both aliases unless the aliases exist already."""
        with self._answers():
            current = await self._aliased_index()
            if current is None:
                await self._create_index()
                current = await self._aliased_index()
        if current is not None and current != self.index:
            log.warning(
                "Elasticsearch alias %s points to %s, not to %s of HPO release %s: "
                "patients keep the closures of the older release until swap_release runs",
                self.names.write_alias,
                current,
                self.index,
                self.hpo_release,
            )
        self.index = current or self.index

    async def close(self) -> None:
        await self._client.close()

    async def drop(self) -> None:
        """Delete the store's indexes (and with them its aliases). For tests and teardown."""
        with self._answers():
            indexes = {self.index}
            for alias in (self.names.read_alias, self.names.write_alias):
                indexes.update(await self._indexes_behind(alias))
            await self._client.indices.delete(index=sorted(indexes), ignore_unavailable=True)

    async def swap_release(
        self,
        hpo_release: str,
        term_weights: TermWeights,
        renormalise: Callable[[PatientRecord], PatientRecord] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Rebuild every patient into the index of ``hpo_release``, then swap both aliases to it.

        Each record goes through ``renormalise`` (alt ids and replaced terms of
        the new release), is stamped with ``hpo_release`` and indexed with the
        closures of ``term_weights``. The old index stays in use, closed to
        writes (saves get ``ServiceUnavailable``), until the atomic alias swap;
        it is deleted afterwards. If any record cannot be rebuilt, nothing
        changes and the error names the first failures. Returns the number of
        patients rebuilt; ``on_progress`` is called as batches land.
        """
        new = self.names.index(hpo_release)
        rebuild = renormalise or _unchanged
        with self._answers():
            # Ask which index is live rather than trust self.index: deleting
            # the wrong one below would lose every patient.
            old = await self._aliased_index()
            if old is None:
                raise MMEError(f"no index behind {self.names.write_alias}: open the store first")
            if new == old:
                raise MMEError(f"patients are already indexed for HPO release {hpo_release!r}")
            # A left-over of an interrupted swap: never aliased, safe to replace.
            await self._client.indices.delete(index=new, ignore_unavailable=True)
            body = index_body(self.names, hpo_release)
            await self._client.indices.create(
                index=new, settings=body["settings"], mappings=body["mappings"]
            )
            await self._block_writes(old, True)
            try:
                report = await self._rebuild_into(
                    new, hpo_release, term_weights, rebuild, on_progress
                )
                if report.rejected:
                    raise _rebuild_failure(report, hpo_release)
                await self._client.indices.refresh(index=new)
                await self._client.indices.update_aliases(
                    actions=_swap_actions(self.names, old, new)
                )
            except BaseException:
                await self._block_writes(old, False)
                await self._client.indices.delete(index=new, ignore_unavailable=True)
                raise
            await self._client.indices.delete(index=old)
        self.index, self.hpo_release, self._weights = new, hpo_release, term_weights
        return report.imported

    # -- single records ----------------------------------------------------

    async def save(
        self, record: PatientRecord, expected_version: int | None = None
    ) -> tuple[PatientRecord, bool]:
        with self._answers():
            for _ in range(_SAVE_ATTEMPTS):
                current = await self._read(record.owner, record.patient.id)
                if expected_version is not None:
                    _check_version(record, current, expected_version)
                stored = _next_version(record, current, datetime.now(UTC))
                try:
                    await self._write(stored, current)
                except ConflictError:
                    if expected_version is not None:
                        _raise_changed(record, expected_version)
                    continue  # another writer won the race: build on its version
                return stored, current is None
        raise Conflict(
            f"patient {record.patient.id!r} is being changed by other writers: try again"
        )

    async def get(self, owner: str, patient_id: str) -> PatientRecord:
        with self._answers():
            current = await self._read(owner, patient_id, alias=self.names.read_alias)
        if current is None:
            raise NotFound(f"patient {patient_id!r} not found")
        return current.record

    async def delete(self, owner: str, patient_id: str) -> None:
        with self._answers():
            try:
                await self._writer.delete(
                    index=self.names.write_alias,
                    id=document_id(owner, patient_id),
                    refresh="wait_for",
                )
            except NotFoundError as error:
                if is_missing_index(error):
                    raise
                raise NotFound(f"patient {patient_id!r} not found") from error

    # -- many records ------------------------------------------------------

    async def list(self, owner: str | None, offset: int = 0, limit: int = 50) -> Page:
        if offset < 0 or limit < 1:
            raise InvalidRequest(f"bad page: offset {offset} must be >= 0 and limit {limit} >= 1")
        if offset + limit > MAX_RESULT_WINDOW:
            raise InvalidRequest(
                f"listings reach the first {MAX_RESULT_WINDOW} patients only "
                f"(offset {offset} + limit {limit})"
            )
        with self._answers():
            response = await self._client.search(
                index=self.names.read_alias,
                body=listing_search(owner, offset, limit),
                allow_partial_search_results=False,
            )
        hits = response["hits"]
        return Page(
            records=tuple(_hit_record(hit) for hit in hits["hits"]),
            total=hits["total"]["value"],
            offset=offset,
            limit=limit,
        )

    async def candidates(
        self, patient: Patient, limit: int, *, test: bool
    ) -> builtins.list[PatientRecord]:
        """Stored patients worth scoring against ``patient``, at most ``limit`` per search.

        The union, without repeats, of the best phenotype matches (summed IC of
        shared ancestor terms) and of the patients sharing a variant or gene.
        ``test`` selects test patients only, or real patients only.
        """
        searches = candidate_searches(patient, self._weights, limit, test=test)
        if not searches:
            return []
        lines: builtins.list[Document] = []
        for search in searches:
            lines += [SEARCH_HEADER, search]
        with self._answers():
            response = await self._client.msearch(index=self.names.read_alias, searches=lines)
            found: dict[str, PatientRecord] = {}
            for answer in response["responses"]:
                if "error" in answer:
                    raise search_failure(answer, self._where)
                for hit in answer["hits"]["hits"]:
                    found.setdefault(hit["_id"], _hit_record(hit))
        return list(found.values())

    async def import_many(
        self,
        records: Iterable[PatientRecord],
        on_progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Create-or-replace ``records`` with the bulk API, :data:`IMPORT_BATCH` at a time.

        Versions and creation times continue those already stored. A record
        changed by someone else during its batch is rejected, not overwritten.
        ``on_progress`` is called after each acknowledged batch; the index is
        refreshed once at the end.
        """
        report = ImportReport()
        with self._answers():
            for batch in _batches(records, IMPORT_BATCH):
                await self._import_batch(batch, report)
                if on_progress is not None:
                    on_progress(len(batch))
            await self._client.indices.refresh(index=self.names.write_alias)
        return report

    async def iter_records(self) -> AsyncIterator[PatientRecord]:
        """Every record, in no particular order, from a scroll over the read alias."""
        with self._answers():
            async for hit in async_scan(
                self._client,
                index=self.names.read_alias,
                query={"query": {"match_all": {}}, "_source": RECORD_ONLY},
                size=IMPORT_BATCH,
            ):
                yield _hit_record(hit)

    async def count(self) -> int:
        with self._answers():
            response = await self._client.count(index=self.names.read_alias)
        return int(response["count"])

    async def health(self) -> StoreHealth:
        """Whether Elasticsearch answers a count within :data:`HEALTH_TIMEOUT`; never raises."""
        quick = self._client.options(request_timeout=HEALTH_TIMEOUT, max_retries=0)
        try:
            with self._answers():
                response = await quick.count(index=self.names.read_alias)
        except MMEError as error:
            return StoreHealth(ok=False, kind=self.kind, detail=error.message)
        return StoreHealth(
            ok=True,
            kind=self.kind,
            detail=f"{response['count']} patients in {self.index} at {self._where}",
        )

    # -- machinery ---------------------------------------------------------

    def _answers(self) -> AbstractContextManager[None]:
        return translated_failures(self._where)

    async def _aliased_index(self) -> str | None:
        indexes = await self._indexes_behind(self.names.write_alias)
        return indexes[0] if indexes else None

    async def _indexes_behind(self, alias: str) -> tuple[str, ...]:
        try:
            response = await self._client.indices.get_alias(name=alias)
        except NotFoundError:
            return ()
        return tuple(sorted(response.body))

    async def _create_index(self) -> None:
        body = index_body(self.names, self.hpo_release)
        try:
            await self._client.indices.create(
                index=self.index,
                settings=body["settings"],
                mappings=body["mappings"],
                aliases=body["aliases"],
            )
        except BadRequestError as error:
            # Another node created it between our look and our create.
            if error.message != "resource_already_exists_exception":
                raise

    async def _read(
        self, owner: str, patient_id: str, *, alias: str | None = None
    ) -> _Stored | None:
        """The stored document, read in real time (writes default to the write alias)."""
        try:
            response = await self._client.get(
                index=alias or self.names.write_alias,
                id=document_id(owner, patient_id),
                source_includes=RECORD_ONLY,
            )
        except NotFoundError as error:
            if is_missing_index(error):
                raise
            return None
        return _Stored(
            record=_hit_record(response.body),
            seq_no=response["_seq_no"],
            primary_term=response["_primary_term"],
        )

    async def _write(self, record: PatientRecord, current: _Stored | None) -> None:
        """Index ``record``: create it if ``current`` is None, else replace exactly ``current``."""
        document = _document(record, self._weights)
        guard: dict[str, Any] = (
            {"op_type": "create"}
            if current is None
            else {"if_seq_no": current.seq_no, "if_primary_term": current.primary_term}
        )
        await self._writer.index(
            index=self.names.write_alias,
            id=document_id(*record.key),
            document=document,
            refresh="wait_for",
            **guard,
        )

    async def _block_writes(self, index: str, blocked: bool) -> None:
        # None resets the setting rather than leaving an explicit ``false`` behind.
        await self._client.indices.put_settings(
            index=index, settings={"index.blocks.write": True if blocked else None}
        )

    async def _rebuild_into(
        self,
        index: str,
        hpo_release: str,
        weights: TermWeights,
        rebuild: Callable[[PatientRecord], PatientRecord],
        on_progress: ProgressCallback | None,
    ) -> ImportReport:
        """Index every stored record, rebuilt for ``hpo_release``, into ``index``."""
        report = ImportReport()
        patient_ids: dict[str, str] = {}

        async def actions() -> AsyncIterator[Document]:
            async for record in self.iter_records():
                try:
                    renewed = dataclasses.replace(rebuild(record), hpo_release=hpo_release)
                    document = patient_document(renewed, weights)
                except (MMEError, CodecError, ValueError) as error:
                    report.rejected.append(Rejection(record.patient.id, str(error)))
                    continue
                doc_id = document_id(*record.key)
                patient_ids[doc_id] = record.patient.id
                yield {"_index": index, "_id": doc_id, "_source": document}

        landed = 0
        async for ok, item in async_streaming_bulk(
            self._client,
            actions(),
            chunk_size=IMPORT_BATCH,
            max_retries=MAX_RETRIES,
            raise_on_error=False,
        ):
            result = next(iter(item.values()))
            if ok:
                report.imported += 1
            else:
                report.rejected.append(Rejection(patient_ids[result["_id"]], _bulk_failure(result)))
            landed += 1
            if on_progress is not None and landed == IMPORT_BATCH:
                on_progress(landed)
                landed = 0
        if on_progress is not None and landed:
            on_progress(landed)
        return report

    async def _import_batch(self, batch: Sequence[PatientRecord], report: ImportReport) -> None:
        ids = [document_id(*record.key) for record in batch]
        response = await self._client.mget(
            index=self.names.write_alias, ids=ids, source_includes=RECORD_ONLY
        )
        now = datetime.now(UTC)
        actions: list[Document] = []
        patient_ids: dict[str, str] = {}
        for record, found in zip(batch, response["docs"], strict=True):
            if "error" in found:
                report.rejected.append(Rejection(record.patient.id, str(found["error"])))
                continue
            current = _stored_from(found)
            try:
                document = patient_document(_next_version(record, current, now), self._weights)
            except CodecError as error:
                report.rejected.append(Rejection(record.patient.id, str(error)))
                continue
            actions.append(_bulk_action(self.names.write_alias, found["_id"], document, current))
            patient_ids[found["_id"]] = record.patient.id
        async for ok, item in async_streaming_bulk(
            self._client,
            actions,
            chunk_size=IMPORT_BATCH,
            max_retries=MAX_RETRIES,
            raise_on_error=False,
        ):
            if ok:
                report.imported += 1
            else:
                result = next(iter(item.values()))
                if is_write_block(result):  # the index's state, not the record's fault
                    raise failure_from_status(
                        result["status"], result["error"]["type"], self._where
                    )
                reason = _bulk_failure(result)
                report.rejected.append(Rejection(patient_ids[result["_id"]], reason))


def _unchanged(record: PatientRecord) -> PatientRecord:
    return record


def _swap_actions(names: IndexNames, old: str, new: str) -> builtins.list[Document]:
    """One ``_aliases`` request moving both aliases, applied atomically by Elasticsearch."""
    return [
        {"remove": {"index": old, "alias": names.read_alias}},
        {"remove": {"index": old, "alias": names.write_alias}},
        {"add": {"index": new, "alias": names.read_alias}},
        {"add": {"index": new, "alias": names.write_alias, "is_write_index": True}},
    ]


def _rebuild_failure(report: ImportReport, hpo_release: str) -> MMEError:
    first = "; ".join(f"{r.patient_id}: {r.reason}" for r in report.rejected[:3])
    return MMEError(
        f"{len(report.rejected)} patients cannot be rebuilt for HPO release {hpo_release!r} "
        f"(first: {first}); the index of the current release stays in use"
    )


def _document(record: PatientRecord, weights: TermWeights) -> Document:
    try:
        return patient_document(record, weights)
    except CodecError as error:
        raise InvalidPatient(f"patient {record.patient.id!r} cannot be stored: {error}") from error


def _next_version(record: PatientRecord, current: _Stored | None, now: datetime) -> PatientRecord:
    """``record`` as the next version of ``current`` (version 1, created now, if None)."""
    if current is None:
        return dataclasses.replace(record, version=1, created=now, updated=now)
    return dataclasses.replace(
        record, version=current.record.version + 1, created=current.record.created, updated=now
    )


def _check_version(record: PatientRecord, current: _Stored | None, expected: int) -> None:
    if current is None:
        raise Conflict(
            f"patient {record.patient.id!r} does not exist, "
            f"so it cannot be at the expected version {expected}"
        )
    if current.record.version != expected:
        _raise_changed(record, expected, current.record.version)


def _raise_changed(record: PatientRecord, expected: int, found: int | None = None) -> NoReturn:
    now = "has changed" if found is None else f"is at version {found}"
    raise Conflict(
        f"patient {record.patient.id!r} {now}, not the expected version {expected}: "
        "fetch it again and retry"
    )


def _stored_from(found: Document) -> _Stored | None:
    if not found.get("found"):
        return None
    return _Stored(
        record=_hit_record(found), seq_no=found["_seq_no"], primary_term=found["_primary_term"]
    )


def _bulk_action(alias: str, doc_id: str, document: Document, current: _Stored | None) -> Document:
    action: Document = {"_index": alias, "_id": doc_id, "_source": document}
    if current is None:
        action["_op_type"] = "create"
    else:
        action.update(if_seq_no=current.seq_no, if_primary_term=current.primary_term)
    return action


def _bulk_failure(result: Document) -> str:
    if result.get("status") == 409:
        return "changed by another writer during the import: import it again"
    error = result.get("error", {})
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}".strip(": ")
    return str(error)


def _hit_record(hit: Document) -> PatientRecord:
    """The record kept in a hit's or document's ``_source``."""
    return decode_record(hit["_source"]["record"])


def _batches(records: Iterable[PatientRecord], size: int) -> Iterator[list[PatientRecord]]:
    """Batches of at most ``size`` records, a new one before a patient repeats.

    One bulk request must not hold two writes of the same document: both
    would be checked against the same stored version and one would fail.
    """
    iterator = iter(records)
    batch: list[PatientRecord] = []
    keys: set[tuple[str, str]] = set()
    for record in iterator:
        if record.key in keys or len(batch) == size:
            yield batch
            batch, keys = [], set()
        batch.append(record)
        keys.add(record.key)
    if batch:
        yield batch
