"""The Elasticsearch patient store: the same records as SQLite, for clusters.

Each patient is one document (see :mod:`mme_node.stores.elastic.mapping`) in
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
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import NoReturn
from urllib.parse import urlsplit

from mme_node.errors import (
    Conflict,
    InvalidPatient,
    InvalidRequest,
    MMEError,
    NotFound,
)
from mme_node.model import Patient, PatientRecord
from mme_node.security.consent import Audience
from mme_node.settings import Settings
from mme_node.stores.base import (
    ImportReport,
    Page,
    ProgressCallback,
    Rejection,
    StoreHealth,
    already_exists,
    check_save_condition,
)
from mme_node.stores.codec import CodecError, decode_record
from mme_node.stores.elastic.mapping import (
    ADDED_FIELDS,
    Document,
    IndexNames,
    ObservedTermsOnly,
    TermWeights,
    document_id,
    index_body,
    patient_document,
)
from mme_node.stores.elastic.queries import (
    RECORD_ONLY,
    SEARCH_HEADER,
    candidate_searches,
    listing_search,
)

try:
    from elasticsearch import AsyncElasticsearch, BadRequestError
    from elasticsearch.helpers import async_scan
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the Elasticsearch store needs the Elasticsearch client: install mme-node[elasticsearch]"
    ) from error

from mme_node.stores.elastic.errors import (
    item_failure,
    translated_failures,
    without_credentials,
)
from mme_node.stores.elastic.requests import (
    BATCH,
    HEALTH_TIMEOUT,
    SCAN_TIMEOUT,
    SCROLL_KEEP_ALIVE,
    Backoff,
    connect,
    sent_once,
)
from mme_node.stores.elastic.swap import ReleaseSwap, indexes_behind
from mme_node.stores.elastic.writes import DocumentWriter, PlannedWrite, StoredDocument

__all__ = [
    "ElasticsearchPatientStore",
    "TermWeights",
    "connect",
    "elasticsearch_store_from_settings",
]

log = logging.getLogger(__name__)

DEFAULT_RESULT_WINDOW = 10_000
"""Elasticsearch's default ``index.max_result_window``: how deep a search may page."""

_SAVE_ATTEMPTS = 5
_CHANGED = "changed by another writer during the import: import it again"
_INDEX_SETTINGS = ["index.max_result_window", "index.refresh_interval", "index.blocks.write"]


def elasticsearch_store_from_settings(
    settings: Settings, term_weights: TermWeights, *, hpo_release: str = "default"
) -> ElasticsearchPatientStore:
    """The store the ``elasticsearch_*`` settings describe, for the HPO release in use.

    The settings are checked before anything is sent: a URL that is not
    http(s), a CA file with a plain-http URL, or a CA file that cannot be read
    is an error naming the setting.
    """
    url = settings.elasticsearch_url
    if not url:
        raise MMEError("setting 'elasticsearch_url' is required when 'store' is 'elasticsearch'")
    scheme = urlsplit(url).scheme
    if scheme not in {"http", "https"}:
        raise MMEError(
            f"setting 'elasticsearch_url' must start with http:// or https://, not "
            f"{without_credentials(url)!r}"
        )
    ca_file = settings.elasticsearch_ca_file
    if ca_file and scheme != "https":
        raise MMEError(
            "setting 'elasticsearch_ca_file' applies to TLS only, but 'elasticsearch_url' "
            f"is {without_credentials(url)!r}: use https:// or unset the CA file"
        )
    if ca_file and not os.access(ca_file, os.R_OK):
        raise MMEError(f"setting 'elasticsearch_ca_file': cannot read {ca_file!r}")
    return ElasticsearchPatientStore(
        url,
        username=settings.elasticsearch_username or None,
        password=settings.elasticsearch_password or None,
        ca_file=ca_file or None,
        hpo_release=hpo_release,
        term_weights=term_weights,
        retrieval_depth=settings.match_retrieval_depth,
    )


class ElasticsearchPatientStore:
    """A :class:`~mme_node.stores.base.PatientStore` in an Elasticsearch 8 cluster at ``url``.

    ``term_weights`` gives the ancestor closure and information content of HPO
    terms of ``hpo_release``; without it only the observed terms themselves are
    indexed. ``retrieval_depth`` (candidates asked per search) is checked
    against the index's ``index.max_result_window`` when the store opens.
    ``client`` replaces the client built from ``url`` and the credentials; the
    store closes it in :meth:`close` either way. ``backoff`` paces the writes
    sent again after Elasticsearch answered 429 or 503.
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
        retrieval_depth: int | None = None,
        client: AsyncElasticsearch | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.names = IndexNames(index_prefix)
        self.hpo_release = hpo_release
        self.index = self.names.index(hpo_release)
        self._weights: TermWeights = term_weights or ObservedTermsOnly()
        self._retrieval_depth = retrieval_depth
        self._result_window = DEFAULT_RESULT_WINDOW
        self._where = without_credentials(url)
        self._client = client or connect(url, username=username, password=password, ca_file=ca_file)
        pacing = backoff or Backoff()
        self._documents = DocumentWriter(
            self._client,
            self.names.write_alias,
            where=self._where,
            backoff=pacing,
            require_alias=True,
        )
        self._swap = ReleaseSwap(self._client, self.names, where=self._where, backoff=pacing)

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Create the release's index and both aliases unless they exist; check its settings.

        An index created by an older mme-node gets the fields added since (the
        mapping update is a no-op on an index that has them).

        Raises ``MMEError`` when ``retrieval_depth`` exceeds the index's
        ``index.max_result_window`` (every match would fail), and warns about
        settings that make saves slow or refused.
        """
        with self._answers():
            current = await self._aliased_index()
            if current is None:
                await self._create_index()
                current = await self._aliased_index()
            if current is not None:
                await self._check_index_settings(current)
                await self._client.indices.put_mapping(index=current, properties=ADDED_FIELDS)
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
                indexes |= await indexes_behind(self._client, alias)
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
        it is deleted afterwards. Returns the number of patients rebuilt;
        ``on_progress`` is called as batches land. Already on ``hpo_release``:
        nothing is rebuilt, 0 is returned, and the store uses that release.

        If any record cannot be rebuilt, or Elasticsearch fails or times out,
        the aliases stay on the old index, open to writes again, and the error
        says why; ``Conflict`` while another swap runs. Neither a timeout nor a
        dropped connection can lose the live index or an acknowledged write
        (see :mod:`mme_node.stores.elastic.swap`).
        """
        with self._answers():
            result = await self._swap.run(
                hpo_release, term_weights, renormalise or _unchanged, on_progress
            )
        self.index, self.hpo_release, self._weights = result.index, hpo_release, term_weights
        return result.rebuilt

    async def use_release(self, hpo_release: str, term_weights: TermWeights) -> None:
        """Follow a swap another process made: use ``hpo_release``'s index and weights.

        Sends nothing but two alias reads and never starts a swap; ``MMEError``
        if the aliases do not point to the index of ``hpo_release``.
        """
        wanted = self.names.index(hpo_release)
        with self._answers():
            live = await self._swap.live_index()
        if live != wanted:
            raise MMEError(
                f"the patient aliases point to {live}, not to {wanted} of HPO release "
                f"{hpo_release!r}: swap_release has not run for it"
            )
        self.index, self.hpo_release, self._weights = wanted, hpo_release, term_weights

    # -- single records ----------------------------------------------------

    async def save(
        self,
        record: PatientRecord,
        expected_version: int | None = None,
        *,
        create_only: bool = False,
    ) -> tuple[PatientRecord, bool]:
        check_save_condition(expected_version, create_only)
        doc_id = document_id(*record.key)
        with self._answers():
            for _ in range(_SAVE_ATTEMPTS):
                current = await self._documents.read(doc_id)
                if expected_version is not None:
                    _check_version(record, current, expected_version)
                if create_only and current is not None:
                    raise already_exists(record)
                # A plan without a current document is written with op_type=create.
                plan = self._plan(doc_id, record, current, datetime.now(UTC))
                if await self._documents.write(plan):
                    return plan.record, current is None
                if expected_version is not None:
                    _raise_changed(record, expected_version)
                if create_only:
                    raise already_exists(record)  # another writer created it first
                # Another writer won the race: build on its version.
        raise Conflict(
            f"patient {record.patient.id!r} is being changed by other writers: try again"
        )

    async def get(self, owner: str, patient_id: str) -> PatientRecord:
        with self._answers():
            current = await self._documents.read(
                document_id(owner, patient_id), through=self.names.read_alias
            )
        if current is None:
            raise NotFound(f"patient {patient_id!r} not found")
        return current.record

    async def get_many(self, keys: Sequence[tuple[str, str]]) -> list[PatientRecord | None]:
        ids = [document_id(owner, patient_id) for owner, patient_id in keys]
        if not ids:
            return []
        with self._answers():
            found = await self._documents.read_many(ids, through=self.names.read_alias)
        documents = [found[doc_id] for doc_id in ids]
        return [None if document is None else document.record for document in documents]

    async def delete(self, owner: str, patient_id: str) -> None:
        with self._answers():
            deleted = await self._documents.delete(document_id(owner, patient_id))
        if not deleted:
            raise NotFound(f"patient {patient_id!r} not found")

    # -- many records ------------------------------------------------------

    async def list(self, owner: str | None, offset: int = 0, limit: int = 50) -> Page:
        if offset < 0 or limit < 1:
            raise InvalidRequest(f"bad page: offset {offset} must be >= 0 and limit {limit} >= 1")
        if offset + limit > self._result_window:
            raise InvalidRequest(
                f"listings reach the first {self._result_window} patients only "
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
        self, patient: Patient, limit: int, *, test: bool, audience: Audience | None = None
    ) -> builtins.list[PatientRecord]:
        """Stored patients worth scoring against ``patient``, at most ``limit`` per search.

        The union, without repeats, of the best phenotype matches (summed IC of
        shared ancestor terms) and of the patients sharing a variant or gene.
        ``test`` selects test patients only, or real patients only; with an
        ``audience``, only patients whose consent reaches it are searched.
        """
        searches = candidate_searches(patient, self._weights, limit, test=test, audience=audience)
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
                    raise item_failure(answer, self._where)
                for hit in answer["hits"]["hits"]:
                    found.setdefault(hit["_id"], _hit_record(hit))
        return list(found.values())

    async def import_many(
        self,
        records: Iterable[PatientRecord],
        on_progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Create-or-replace ``records`` with the bulk API, :data:`BATCH` at a time.

        Versions and creation times continue those already stored. A record
        changed by someone else during its batch is rejected, not overwritten.
        ``on_progress`` is called after each acknowledged batch; the index is
        refreshed once at the end. A missing index, a write block or a refused
        privilege stops the import with that error (earlier batches stay).
        """
        report = ImportReport()
        with self._answers():
            for batch in _batches(records, BATCH):
                await self._import_batch(batch, report)
                if on_progress is not None:
                    on_progress(len(batch))
            await self._client.indices.refresh(index=self.names.write_alias)
        return report

    async def iter_records(self) -> AsyncIterator[PatientRecord]:
        """Every record, in no particular order, from a scroll over the read alias.

        Each page has :data:`~mme_node.stores.elastic.requests.SCAN_TIMEOUT`
        seconds to come and is never asked twice: a stalled cluster is a
        ``ServiceUnavailable``, not a hang.
        """
        with self._answers():
            async for hit in async_scan(
                sent_once(self._client, SCAN_TIMEOUT),
                index=self.names.read_alias,
                query={"query": {"match_all": {}}, "_source": RECORD_ONLY},
                size=BATCH,
                scroll=SCROLL_KEEP_ALIVE,
                request_timeout=SCAN_TIMEOUT,
                allow_partial_search_results=False,
            ):
                yield _hit_record(hit)

    async def count(self) -> int:
        with self._answers():
            response = await self._client.count(index=self.names.read_alias)
        return int(response["count"])

    async def health(self) -> StoreHealth:
        """Whether Elasticsearch answers a count within :data:`HEALTH_TIMEOUT`; never raises."""
        try:
            with self._answers():
                response = await sent_once(self._client, HEALTH_TIMEOUT).count(
                    index=self.names.read_alias
                )
        except MMEError as error:
            return StoreHealth(ok=False, kind=self.kind, detail=error.message)
        return StoreHealth(
            ok=True,
            kind=self.kind,
            detail=f"{response['count']} patients in {self.index} at {self._where}",
        )

    async def reachable(self) -> bool:
        """Whether Elasticsearch answers :meth:`health`'s count (of every document, which it
        takes from each segment's document total rather than reading documents)."""
        return (await self.health()).ok

    # -- machinery ---------------------------------------------------------

    def _answers(self) -> AbstractContextManager[None]:
        return translated_failures(self._where)

    def _plan(
        self, doc_id: str, record: PatientRecord, current: StoredDocument | None, now: datetime
    ) -> PlannedWrite:
        stored = _next_version(record, current, now)
        return PlannedWrite(doc_id, stored, _document(stored, self._weights), current)

    async def _aliased_index(self) -> str | None:
        indexes = await indexes_behind(self._client, self.names.write_alias)
        return min(indexes) if indexes else None

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

    async def _check_index_settings(self, index: str) -> None:
        """Read the index settings the store depends on; refuse or warn as they require."""
        response = await self._client.indices.get_settings(
            index=index, name=_INDEX_SETTINGS, include_defaults=True, flat_settings=True
        )
        found = response.body.get(index, {})
        values = {**found.get("defaults", {}), **found.get("settings", {})}
        self._result_window = int(values.get("index.max_result_window", DEFAULT_RESULT_WINDOW))
        depth = self._retrieval_depth
        if depth is not None and depth > self._result_window:
            raise MMEError(
                f"setting 'match_retrieval_depth' is {depth}, above index.max_result_window "
                f"{self._result_window} of Elasticsearch index {index}: every match would fail; "
                "lower the setting (or raise the index setting)"
            )
        if str(values.get("index.refresh_interval")) == "-1":
            log.warning(
                "Elasticsearch index %s has refreshes switched off (refresh_interval -1): "
                "every save waits for a refresh until it times out; switch them back on "
                "after a bulk load (docs/elasticsearch.md)",
                index,
            )
        if str(values.get("index.blocks.write")).lower() == "true":
            log.warning(
                "Elasticsearch index %s refuses writes: an HPO release swap is running, or an "
                "interrupted one left its block (docs/elasticsearch.md, 'Upgrading the HPO "
                "release')",
                index,
            )

    async def _import_batch(self, batch: Sequence[PatientRecord], report: ImportReport) -> None:
        ids = [document_id(*record.key) for record in batch]
        stored = await self._documents.read_many(ids)
        now = datetime.now(UTC)
        plans: builtins.list[PlannedWrite] = []
        for doc_id, record in zip(ids, batch, strict=True):
            try:
                plans.append(self._plan(doc_id, record, stored.get(doc_id), now))
            except InvalidPatient as error:
                report.rejected.append(Rejection(record.patient.id, error.message))
        outcome = await self._documents.write_many(plans)
        report.imported += len(outcome.landed)
        reasons = {plan.doc_id: _CHANGED for plan in outcome.changed}
        reasons.update((plan.doc_id, reason) for plan, reason in outcome.refused)
        report.rejected += [
            Rejection(plan.patient_id, reasons[plan.doc_id])
            for plan in plans
            if plan.doc_id in reasons
        ]


def _unchanged(record: PatientRecord) -> PatientRecord:
    return record


def _document(record: PatientRecord, weights: TermWeights) -> Document:
    try:
        return patient_document(record, weights)
    except CodecError as error:
        raise InvalidPatient(f"patient {record.patient.id!r} cannot be stored: {error}") from error


def _next_version(
    record: PatientRecord, current: StoredDocument | None, now: datetime
) -> PatientRecord:
    """``record`` as the next version of ``current`` (version 1, created now, if None)."""
    if current is None:
        return dataclasses.replace(record, version=1, created=now, updated=now)
    return dataclasses.replace(
        record, version=current.record.version + 1, created=current.record.created, updated=now
    )


def _check_version(record: PatientRecord, current: StoredDocument | None, expected: int) -> None:
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


def _hit_record(hit: Document) -> PatientRecord:
    """The record kept in a hit's or document's ``_source``."""
    return decode_record(hit["_source"]["record"])


def _batches(records: Iterable[PatientRecord], size: int) -> Iterator[builtins.list[PatientRecord]]:
    """Batches of at most ``size`` records, a new one before a patient repeats.

    One bulk request must not hold two writes of the same document: both
    would be checked against the same stored version and one would fail.
    """
    iterator = iter(records)
    batch: builtins.list[PatientRecord] = []
    keys: set[tuple[str, str]] = set()
    for record in iterator:
        if record.key in keys or len(batch) == size:
            yield batch
            batch, keys = [], set()
        batch.append(record)
        keys.add(record.key)
    if batch:
        yield batch
