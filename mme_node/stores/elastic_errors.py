"""How Elasticsearch failures become the node's errors.

Anything that means "Elasticsearch cannot serve this now" (no connection, a
timeout, 429 or 5xx, refused credentials, a write block, a missing index,
shards that did not answer) is a :class:`~mme_node.errors.ServiceUnavailable`
naming the URL; any other refusal is a plain :class:`~mme_node.errors.MMEError`.
URLs in messages never carry credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TlsError
from elasticsearch import ApiError, NotFoundError
from elasticsearch.helpers import ScanError

from mme_node.errors import MMEError, ServiceUnavailable

_BUSY_STATUSES = frozenset({429, 502, 503, 504})
_REFUSED_STATUSES = frozenset({401, 403})
_WRITE_BLOCK = "cluster_block_exception"
_MISSING_INDEX = "index_not_found_exception"


@contextmanager
def translated_failures(where: str) -> Iterator[None]:
    """Raise the node's error for any Elasticsearch failure inside, naming ``where``."""
    try:
        yield
    except TlsError as error:
        raise ServiceUnavailable(
            f"Elasticsearch at {where} failed the TLS handshake: {error}"
        ) from error
    except (TransportConnectionError, ConnectionTimeout) as error:
        raise ServiceUnavailable(f"Elasticsearch is not answering at {where}: {error}") from error
    except ScanError as error:
        raise ServiceUnavailable(
            f"Elasticsearch at {where} answered from only some shards: {error}"
        ) from error
    except ApiError as error:
        raise failure_from_status(error.status_code, error.message, where) from error


def failure_from_status(status: int, kind: str, where: str) -> MMEError:
    """The node's error for an Elasticsearch answer of ``status`` and error type ``kind``."""
    if status in _BUSY_STATUSES:
        return ServiceUnavailable(
            f"Elasticsearch at {where} is overloaded or unavailable ({status} {kind}): "
            "try again later"
        )
    if kind == _WRITE_BLOCK:
        return ServiceUnavailable(
            f"Elasticsearch at {where} does not accept writes to the patient index right now "
            f"(an HPO release swap or a full disk blocks them; {status}): try again later"
        )
    if status in _REFUSED_STATUSES:
        return ServiceUnavailable(
            f"Elasticsearch at {where} refused the node's credentials ({status} {kind})"
        )
    if status == 404 and kind == _MISSING_INDEX:
        return ServiceUnavailable(
            f"Elasticsearch at {where} has no patient index: start the node once to create it"
        )
    return MMEError(f"Elasticsearch at {where} rejected a request ({status} {kind})")


def search_failure(answer: dict[str, Any], where: str) -> MMEError:
    """The error of one failed search inside an ``_msearch`` answer."""
    error = answer["error"]
    kind = error.get("type", "error") if isinstance(error, dict) else str(error)
    return failure_from_status(answer.get("status", 500), kind, where)


def is_missing_index(error: NotFoundError) -> bool:
    """Whether a 404 means the index is gone, not just the document."""
    return error.message == _MISSING_INDEX


def is_write_block(result: dict[str, Any]) -> bool:
    """Whether a bulk item failed because the index refuses all writes, not for its record."""
    error = result.get("error")
    return isinstance(error, dict) and error.get("type") == _WRITE_BLOCK


def without_credentials(url: str) -> str:
    """``url`` fit for messages and logs: any ``user:password@`` removed."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
