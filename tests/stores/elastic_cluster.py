"""An Elasticsearch 8 cluster kept in memory, and faults to put between it and the store.

:class:`FakeCluster` answers the REST requests the Elasticsearch store sends
the way a single-node cluster would, from the state it keeps: indexes
(documents with sequence numbers, what the last refresh made searchable, the
write block, settings), aliases and open scrolls. A test can then assert what
the cluster holds after a failure, not only which requests went out. What it
models, from the Elasticsearch 8 reference and source:

- a GET is real-time, a search or a count sees the last refresh only;
- ``refresh=wait_for`` returns at the next refresh: at once while refreshes
  run, never with ``refresh_interval: -1`` (the client's deadline expires);
- a write block refuses new writes (403 ``cluster_block_exception``); setting
  it does not wait for writes in flight, the add-block API does, and answers
  with no index when the block was already there;
- ``_aliases`` actions apply all or nothing, ``must_exist`` removals included;
- writes through an alias go to its write index; with ``require_alias`` a
  name that is no alias is refused, otherwise a missing index is created;
- mget answers a missing index with one error per document;
- a mapping update adds fields and refuses to change a field's mapping.

:class:`Faults` sit in an httpx transport in front of any other transport,
this fake's or a real cluster's (:func:`faulty_node`), and act on the requests
they match: the answer lost after the request was applied (a timeout, a
dropped connection), the request lost before it reached the cluster, a 429
instead of an answer, a stall until the request's own deadline, or a test's
coroutine run just before the request goes on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
from elastic_transport import HttpxAsyncHttpNode, NodeConfig

Document = dict[str, Any]
PRODUCT = {"X-Elastic-Product": "Elasticsearch"}


def answer(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body, headers=PRODUCT)


def es_error(status: int, kind: str, reason: str) -> httpx.Response:
    cause = {"type": kind, "reason": reason}
    return answer(status, {"error": {**cause, "root_cause": [cause]}, "status": status})


class ClientDeadline(Exception):
    """Raised by a handler to say: the client's deadline expires before any answer."""


# -- the cluster ---------------------------------------------------------------


@dataclass
class StoredDoc:
    source: Document
    seq_no: int
    primary_term: int
    version: int


@dataclass
class FakeIndex:
    name: str
    mappings: Document = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    docs: dict[str, StoredDoc] = field(default_factory=dict)
    searchable: dict[str, StoredDoc] = field(default_factory=dict)
    write_blocked: bool = False
    in_flight: int = 0
    next_seq_no: int = 0

    def refresh(self) -> None:
        self.searchable = dict(self.docs)

    @property
    def refreshes(self) -> bool:
        return self.settings.get("index.refresh_interval") != "-1"


DEFAULT_SETTINGS = {
    "index.max_result_window": "10000",
    "index.refresh_interval": "1s",
    "index.blocks.write": "false",
}


class FakeCluster:
    """One Elasticsearch node's state, answering through :meth:`handle` (an httpx handler)."""

    def __init__(self) -> None:
        self.indices: dict[str, FakeIndex] = {}
        self.aliases: dict[str, dict[str, bool]] = {}
        """alias -> {index: is_write_index}"""
        self.requests: list[httpx.Request] = []
        self.unbounded: list[str] = []
        """Requests sent without a deadline: each would hang on a stalled cluster."""
        self.unplanned: list[str] = []
        self.draining = asyncio.Event()
        """Set while an add-block waits for writes in flight."""
        self._held: tuple[str, asyncio.Event] | None = None
        self.busy_items = 0
        """The next this many document writes are refused with 429, as under indexing load."""
        self._scrolls: dict[str, tuple[list[tuple[str, str, StoredDoc]], int]] = {}
        self._scroll_ids = itertools.count(1)
        self._changed = asyncio.Condition()

    # -- what a test sets up or asks ---------------------------------------------

    def hold_writes(self, index: str) -> None:
        """Document writes to ``index`` stay in flight from now until :meth:`release_writes`."""
        self._held = (index, asyncio.Event())

    def release_writes(self) -> None:
        if self._held is not None:
            self._held[1].set()
        self._held = None

    def writes_in_flight(self) -> int:
        return sum(index.in_flight for index in self.indices.values())

    def sources(self, index: str) -> dict[str, Document]:
        """The documents of ``index`` now, by id."""
        return {doc_id: doc.source for doc_id, doc in self.indices[index].docs.items()}

    # -- the HTTP side -----------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        timeouts = request.extensions.get("timeout", {})
        if timeouts.get("read") is None:
            self.unbounded.append(f"{request.method} {request.url.path}")
        for method, pattern, handler in self._routes():
            matched = re.fullmatch(pattern, request.url.path)
            if request.method in method and matched:
                try:
                    return await handler(request, *matched.groups())
                except ClientDeadline as deadline:
                    raise httpx.ReadTimeout(str(deadline), request=request) from None
        self.unplanned.append(f"{request.method} {request.url.path}")
        return es_error(500, "unplanned_request", f"{request.method} {request.url.path}")

    def _routes(self) -> list[tuple[set[str], str, Callable[..., Awaitable[httpx.Response]]]]:
        name = r"/([^/_][^/]*)"
        return [
            ({"POST"}, r"/_aliases", self._update_aliases),
            ({"GET"}, r"/_alias/([^/]+)", self._get_alias),
            ({"POST", "GET"}, r"/_search/scroll", self._scroll),
            ({"DELETE"}, r"/_search/scroll", self._clear_scroll),
            ({"PUT", "POST"}, r"/_bulk", self._bulk_without_index),
            ({"PUT"}, name + r"/_block/write", self._add_block),
            ({"PUT"}, name + r"/_settings", self._put_settings),
            ({"PUT", "POST"}, name + r"/_mapping", self._put_mapping),
            ({"GET"}, name + r"/_settings/([^/]+)", self._get_settings),
            ({"POST", "GET"}, name + r"/_refresh", self._refresh),
            ({"POST", "GET"}, name + r"/_count", self._count),
            ({"POST", "GET"}, name + r"/_mget", self._mget),
            ({"PUT", "POST"}, name + r"/_bulk", self._bulk),
            ({"POST", "GET"}, name + r"/_search", self._search),
            ({"GET"}, name + r"/_doc/([^/]+)", self._get),
            ({"PUT", "POST"}, name + r"/_doc/([^/]+)", self._index),
            ({"DELETE"}, name + r"/_doc/([^/]+)", self._delete),
            ({"HEAD"}, name, self._exists),
            ({"PUT"}, name, self._create_index),
            ({"DELETE"}, name, self._delete_indices),
        ]

    # -- indexes and aliases -----------------------------------------------------

    def _resolve(self, target: str) -> list[FakeIndex] | None:
        if target in self.aliases:
            return [self.indices[name] for name in sorted(self.aliases[target])]
        index = self.indices.get(target)
        return None if index is None else [index]

    def _write_index(self, target: str, request: httpx.Request) -> FakeIndex | httpx.Response:
        if target in self.aliases:
            holders = self.aliases[target]
            writers = [name for name, is_write in holders.items() if is_write] or list(holders)
            if len(writers) != 1:
                return es_error(400, "illegal_argument_exception", f"no write index for {target}")
            return self.indices[writers[0]]
        if params(request).get("require_alias") == "true":
            return es_error(
                404,
                "index_not_found_exception",
                f"[require_alias] request flag is [true] and [{target}] is not an alias",
            )
        return self.indices.setdefault(target, FakeIndex(target))  # automatic index creation

    async def _exists(self, request: httpx.Request, name: str) -> httpx.Response:
        found = name in self.indices or name in self.aliases
        return httpx.Response(200 if found else 404, headers=PRODUCT)

    async def _create_index(self, request: httpx.Request, name: str) -> httpx.Response:
        if name in self.indices or name in self.aliases:
            return es_error(400, "resource_already_exists_exception", f"index [{name}] exists")
        sent = body(request) or {}
        index = FakeIndex(name, mappings=sent.get("mappings", {}))
        self.indices[name] = index
        for alias, options in sent.get("aliases", {}).items():
            self.aliases.setdefault(alias, {})[name] = bool(options.get("is_write_index"))
        return answer(200, {"acknowledged": True, "shards_acknowledged": True, "index": name})

    async def _delete_indices(self, request: httpx.Request, names: str) -> httpx.Response:
        wanted = names.split(",")
        if any(name in self.aliases for name in wanted):
            return es_error(400, "illegal_argument_exception", "matches an alias")
        missing = [name for name in wanted if name not in self.indices]
        if missing and params(request).get("ignore_unavailable") != "true":
            return es_error(404, "index_not_found_exception", f"no such index [{missing[0]}]")
        for name in wanted:
            self.indices.pop(name, None)
            for holders in self.aliases.values():
                holders.pop(name, None)
        self.aliases = {alias: holders for alias, holders in self.aliases.items() if holders}
        return answer(200, {"acknowledged": True})

    async def _get_alias(self, request: httpx.Request, alias: str) -> httpx.Response:
        holders = self.aliases.get(alias)
        if not holders:
            return answer(404, {"error": f"alias [{alias}] missing", "status": 404})
        return answer(
            200,
            {
                name: {"aliases": {alias: {"is_write_index": True} if is_write else {}}}
                for name, is_write in holders.items()
            },
        )

    async def _update_aliases(self, request: httpx.Request) -> httpx.Response:
        actions = body(request)["actions"]
        for action in actions:  # all are checked before any applies
            ((kind, spec),) = action.items()
            if spec["index"] not in self.indices:
                return es_error(
                    404, "index_not_found_exception", f"no such index [{spec['index']}]"
                )
            holders = self.aliases.get(spec["alias"], {})
            if kind == "remove" and spec.get("must_exist") and spec["index"] not in holders:
                return es_error(404, "aliases_not_found_exception", f"{spec['alias']} missing")
        for action in actions:
            ((kind, spec),) = action.items()
            holders = self.aliases.setdefault(spec["alias"], {})
            if kind == "add":
                holders[spec["index"]] = bool(spec.get("is_write_index"))
            else:
                holders.pop(spec["index"], None)
        self.aliases = {alias: holders for alias, holders in self.aliases.items() if holders}
        return answer(200, {"acknowledged": True})

    async def _add_block(self, request: httpx.Request, name: str) -> httpx.Response:
        index = self.indices.get(name)
        if index is None:
            return es_error(404, "index_not_found_exception", f"no such index [{name}]")
        if index.write_blocked:
            return answer(200, {"acknowledged": True, "shards_acknowledged": False, "indices": []})
        index.write_blocked = True
        index.settings["index.blocks.write"] = "true"
        self.draining.set()
        async with self._changed:
            await self._changed.wait_for(lambda: index.in_flight == 0)
        self.draining.clear()
        return answer(
            200,
            {
                "acknowledged": True,
                "shards_acknowledged": True,
                "indices": [{"name": name, "blocked": True}],
            },
        )

    async def _put_settings(self, request: httpx.Request, target: str) -> httpx.Response:
        indexes = self._resolve(target)
        if indexes is None:
            return es_error(404, "index_not_found_exception", f"no such index [{target}]")
        changes = _flat(body(request))
        for index in indexes:
            for key, value in changes.items():
                if value is None:
                    index.settings.pop(key, None)
                else:
                    index.settings[key] = str(value).lower()
            index.write_blocked = index.settings.get("index.blocks.write") == "true"
        return answer(200, {"acknowledged": True})

    async def _put_mapping(self, request: httpx.Request, target: str) -> httpx.Response:
        """Fields are added; a field mapped already must be sent as it is (else 400)."""
        indexes = self._resolve(target)
        if indexes is None:
            return es_error(404, "index_not_found_exception", f"no such index [{target}]")
        added = body(request).get("properties", {})
        for index in indexes:
            properties = index.mappings.setdefault("properties", {})
            for field_name, spec in added.items():
                if properties.get(field_name, spec) != spec:
                    return es_error(400, "illegal_argument_exception", f"mapper [{field_name}]")
        for index in indexes:
            index.mappings["properties"].update(added)
        return answer(200, {"acknowledged": True})

    async def _get_settings(
        self, request: httpx.Request, target: str, names: str
    ) -> httpx.Response:
        indexes = self._resolve(target)
        if indexes is None:
            return es_error(404, "index_not_found_exception", f"no such index [{target}]")
        wanted = names.split(",")
        result = {}
        for index in indexes:
            explicit = {key: index.settings[key] for key in wanted if key in index.settings}
            defaults = {
                key: DEFAULT_SETTINGS[key]
                for key in wanted
                if key in DEFAULT_SETTINGS and key not in index.settings
            }
            result[index.name] = {"settings": explicit, "defaults": defaults}
        return answer(200, result)

    async def _refresh(self, request: httpx.Request, target: str) -> httpx.Response:
        indexes = self._resolve(target)
        if indexes is None:
            return es_error(404, "index_not_found_exception", f"no such index [{target}]")
        for index in indexes:
            index.refresh()
        return answer(200, {"_shards": _shards(len(indexes))})

    async def _count(self, request: httpx.Request, target: str) -> httpx.Response:
        indexes = self._resolve(target)
        if indexes is None:
            return es_error(404, "index_not_found_exception", f"no such index [{target}]")
        total = sum(len(index.searchable) for index in indexes)
        return answer(200, {"count": total, "_shards": _shards(len(indexes))})

    # -- documents ---------------------------------------------------------------

    async def _get(self, request: httpx.Request, target: str, doc_id: str) -> httpx.Response:
        indexes = self._resolve(target)
        if indexes is None:
            return es_error(404, "index_not_found_exception", f"no such index [{target}]")
        index = indexes[0]
        doc = index.docs.get(doc_id)
        if doc is None:
            return answer(404, {"_index": index.name, "_id": doc_id, "found": False})
        return answer(200, _found(index.name, doc_id, doc))

    async def _mget(self, request: httpx.Request, target: str) -> httpx.Response:
        ids = body(request)["ids"]
        indexes = self._resolve(target)
        if indexes is None:
            missing = {"type": "index_not_found_exception", "reason": f"no such index [{target}]"}
            return answer(
                200, {"docs": [{"_index": target, "_id": i, "error": missing} for i in ids]}
            )
        index = indexes[0]
        docs = []
        for doc_id in ids:
            doc = index.docs.get(doc_id)
            docs.append(
                {"_index": index.name, "_id": doc_id, "found": False}
                if doc is None
                else _found(index.name, doc_id, doc)
            )
        return answer(200, {"docs": docs})

    async def _index(self, request: httpx.Request, target: str, doc_id: str) -> httpx.Response:
        index = self._write_index(target, request)
        if isinstance(index, httpx.Response):
            return index
        query = params(request)
        status, result = await self._apply(index, doc_id, query, json.loads(request.content))
        if status >= 300:
            return answer(status, {"error": result, "status": status})
        await self._wait_for_refresh(index, query)
        return answer(status, result)

    async def _delete(self, request: httpx.Request, target: str, doc_id: str) -> httpx.Response:
        indexes = self._resolve(target)
        if indexes is None:
            return es_error(404, "index_not_found_exception", f"no such index [{target}]")
        index = indexes[0]
        if index.write_blocked:
            return es_error(403, "cluster_block_exception", f"index [{index.name}] blocked")
        async with self._in_flight(index):
            if index.docs.pop(doc_id, None) is None:
                return answer(404, {"_index": index.name, "_id": doc_id, "result": "not_found"})
        await self._wait_for_refresh(index, params(request))
        return answer(200, {"_index": index.name, "_id": doc_id, "result": "deleted"})

    async def _bulk_without_index(self, request: httpx.Request) -> httpx.Response:
        return await self._bulk(request, None)

    async def _bulk(self, request: httpx.Request, target: str | None) -> httpx.Response:
        lines = [json.loads(line) for line in request.content.splitlines() if line.strip()]
        items = []
        for action_line, source in zip(lines[::2], lines[1::2], strict=True):
            ((op, spec),) = action_line.items()
            index = self._write_index(spec.get("_index", target), request)
            query = {"op_type": op, **{k: str(v) for k, v in spec.items() if k.startswith("if_")}}
            if isinstance(index, httpx.Response):
                error = json.loads(index.content)
                status, result = index.status_code, error["error"]
            else:
                status, result = await self._apply(index, spec["_id"], query, source)
            item = {"_id": spec["_id"], "status": status}
            item.update({"error": result} if status >= 300 else result)
            items.append({op: item})
        errors = any(next(iter(item.values()))["status"] >= 300 for item in items)
        return answer(200, {"took": 1, "errors": errors, "items": items})

    async def _apply(
        self, index: FakeIndex, doc_id: str, query: dict[str, str], source: Document
    ) -> tuple[int, Document]:
        """One index or create operation: the status and the item's body."""
        if index.write_blocked:
            return 403, {"type": "cluster_block_exception", "reason": "index write (api)"}
        if self.busy_items:
            self.busy_items -= 1
            return 429, {"type": "es_rejected_execution_exception", "reason": "queue full"}
        async with self._in_flight(index):
            current = index.docs.get(doc_id)
            conflict = {"type": "version_conflict_engine_exception", "reason": doc_id}
            if query.get("op_type") == "create" and current is not None:
                return 409, conflict
            if "if_seq_no" in query and (
                current is None
                or current.seq_no != int(query["if_seq_no"])
                or current.primary_term != int(query["if_primary_term"])
            ):
                return 409, conflict
            version = 1 if current is None else current.version + 1
            index.docs[doc_id] = StoredDoc(source, index.next_seq_no, 1, version)
            index.next_seq_no += 1
        created = current is None
        return (201 if created else 200), {
            "_index": index.name,
            "_id": doc_id,
            "_seq_no": index.docs[doc_id].seq_no,
            "_primary_term": 1,
            "_version": version,
            "result": "created" if created else "updated",
        }

    async def _wait_for_refresh(self, index: FakeIndex, query: dict[str, str]) -> None:
        if query.get("refresh") == "true":
            index.refresh()
        elif query.get("refresh") == "wait_for":
            if not index.refreshes:
                raise ClientDeadline("refresh=wait_for with refreshes off: no refresh comes")
            index.refresh()

    def _in_flight(self, index: FakeIndex) -> _InFlight:
        return _InFlight(self, index)

    # -- searches ----------------------------------------------------------------

    async def _search(self, request: httpx.Request, target: str) -> httpx.Response:
        indexes = self._resolve(target)
        if indexes is None:
            return es_error(404, "index_not_found_exception", f"no such index [{target}]")
        sent = body(request) or {}
        if sent.get("query") != {"match_all": {}} or "scroll" not in params(request):
            self.unplanned.append(f"search {sent}")
            return es_error(500, "unplanned_request", "only match_all scrolls are modelled")
        snapshot = [(i.name, doc_id, doc) for i in indexes for doc_id, doc in i.searchable.items()]
        scroll_id = f"scroll-{next(self._scroll_ids)}"
        self._scrolls[scroll_id] = (list(snapshot), int(sent.get("size", 10)))
        return answer(200, self._page(scroll_id))

    async def _scroll(self, request: httpx.Request) -> httpx.Response:
        scroll_id = body(request)["scroll_id"]
        if scroll_id not in self._scrolls:
            return es_error(404, "search_context_missing_exception", scroll_id)
        return answer(200, self._page(scroll_id))

    async def _clear_scroll(self, request: httpx.Request) -> httpx.Response:
        ids = body(request)["scroll_id"]
        freed = [self._scrolls.pop(i, None) for i in ([ids] if isinstance(ids, str) else ids)]
        return answer(200, {"succeeded": True, "num_freed": sum(f is not None for f in freed)})

    def _page(self, scroll_id: str) -> Document:
        remaining, size = self._scrolls[scroll_id]
        page, rest = remaining[:size], remaining[size:]
        self._scrolls[scroll_id] = (rest, size)
        hits = [
            {"_index": name, "_id": doc_id, "_score": None, "_source": doc.source}
            for name, doc_id, doc in page
        ]
        return {
            "_scroll_id": scroll_id,
            "took": 1,
            "timed_out": False,
            "_shards": {**_shards(1), "skipped": 0},
            "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits},
        }


class _InFlight:
    """A write between its admission and its end; held while the cluster holds writes."""

    def __init__(self, cluster: FakeCluster, index: FakeIndex) -> None:
        self._cluster, self._index = cluster, index

    async def __aenter__(self) -> None:
        self._index.in_flight += 1
        held = self._cluster._held
        if held is not None and held[0] == self._index.name:
            await held[1].wait()

    async def __aexit__(self, *exc: object) -> None:
        self._index.in_flight -= 1
        async with self._cluster._changed:
            self._cluster._changed.notify_all()


def _found(index: str, doc_id: str, doc: StoredDoc) -> Document:
    return {
        "_index": index,
        "_id": doc_id,
        "_version": doc.version,
        "_seq_no": doc.seq_no,
        "_primary_term": doc.primary_term,
        "found": True,
        "_source": doc.source,
    }


def _shards(count: int) -> Document:
    return {"total": count, "successful": count, "failed": 0}


def _flat(settings: Document, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, f"{name}."))
        else:
            flat[name if name.startswith("index.") else f"index.{name}"] = value
    return flat


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def params(request: httpx.Request) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(request.url.query.decode()).items()}


# -- faults ---------------------------------------------------------------------

Action = Callable[[], Awaitable[None]]


@dataclass
class Fault:
    """What happens to the requests matching ``method`` and ``path`` (a regular expression)."""

    method: str
    path: str
    kind: str
    times: int
    skip: int = 0
    action: Action | None = None

    def matches(self, request: httpx.Request) -> bool:
        return (
            request.method == self.method and re.fullmatch(self.path, request.url.path) is not None
        )


class Faults:
    """Faults to inject, in the order added; each acts on ``times`` matching requests."""

    KINDS = ("lost_after", "dropped_after", "lost_before", "busy", "stall", "run_before")

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.seen: list[str] = []
        """``METHOD path`` of every request that reached the faults, in order."""
        self.fired: list[str] = []
        self.unbounded: list[str] = []

    def add(
        self,
        method: str,
        path: str,
        kind: str,
        *,
        times: int = 1,
        skip: int = 0,
        action: Action | None = None,
    ) -> None:
        """``kind``: ``lost_after`` (applied, then the client times out), ``dropped_after``
        (applied, then the connection drops), ``lost_before`` (the request never arrives),
        ``busy`` (a 429 instead), ``stall`` (no answer until the request's deadline),
        ``run_before`` (await ``action``, then send the request)."""
        assert kind in self.KINDS, kind
        self._faults.append(Fault(method, path, kind, times, skip, action))

    def count(self, method: str, path: str) -> int:
        """How many requests matching ``method`` and ``path`` reached the faults."""
        return sum(1 for seen in self.seen if re.fullmatch(f"{method} {path}", seen))

    def _take(self, request: httpx.Request) -> Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.matches(request):
                if fault.skip:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                return fault
        return None


class FaultyTransport(httpx.AsyncBaseTransport):
    """``inner``, with :class:`Faults` acting on the requests on their way."""

    def __init__(self, inner: httpx.AsyncBaseTransport, faults: Faults) -> None:
        self._inner, self._faults = inner, faults

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        faults = self._faults
        faults.seen.append(f"{request.method} {request.url.path}")
        fault = faults._take(request)
        if fault is None:
            return await self._inner.handle_async_request(request)
        faults.fired.append(f"{fault.kind} {request.method} {request.url.path}")
        if fault.kind == "busy":
            return es_error(429, "es_rejected_execution_exception", "rejected by a fault")
        if fault.kind == "lost_before":
            raise httpx.ConnectTimeout("lost before reaching the cluster", request=request)
        if fault.kind == "stall":
            if request.extensions.get("timeout", {}).get("read") is None:
                faults.unbounded.append(f"{request.method} {request.url.path}")
            raise httpx.ReadTimeout("no answer before the deadline", request=request)
        if fault.kind == "run_before":
            assert fault.action is not None
            await fault.action()
            return await self._inner.handle_async_request(request)
        response = await self._inner.handle_async_request(request)
        await response.aread()
        await response.aclose()
        if fault.kind == "lost_after":
            raise httpx.ReadTimeout("applied, but the answer came too late", request=request)
        raise httpx.RemoteProtocolError("applied, then the connection dropped", request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def faulty_node(faults: Faults, cluster: FakeCluster | None) -> type[HttpxAsyncHttpNode]:
    """The client's own httpx node class, its requests going through ``faults``.

    To ``cluster`` when given, else over the network to the real cluster the
    client was pointed at (through the node's own connection pool and TLS).
    """

    class FaultyNode(HttpxAsyncHttpNode):
        def __init__(self, config: NodeConfig) -> None:
            super().__init__(config)
            inner: httpx.AsyncBaseTransport = (
                httpx.MockTransport(cluster.handle)
                if cluster is not None
                else self.client._transport  # the pool httpx built with the node's TLS
            )
            self.client = httpx.AsyncClient(
                base_url=self.base_url,
                transport=FaultyTransport(inner, faults),
                timeout=config.request_timeout,
            )

    return FaultyNode
