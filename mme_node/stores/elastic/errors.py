"""How Elasticsearch failures become the node's errors.

Anything that means "Elasticsearch cannot serve this now" (no connection, a
timeout, 429 or 5xx, refused credentials, a missing privilege, a write block,
a missing index, shards that did not answer) is a
:class:`~mme_node.errors.ServiceUnavailable` naming the URL; any other refusal
is a plain :class:`~mme_node.errors.MMEError`. URLs in messages never carry
credentials.
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
        raise failure_from_status(
            error.status_code, error.message, where, reason=error_reason(error.body)
        ) from error


def failure_from_status(status: int, kind: str, where: str, *, reason: str = "") -> MMEError:
    """The node's error for an Elasticsearch answer of ``status`` and error type ``kind``.

    ``reason`` is Elasticsearch's own sentence, quoted where it helps the
    operator (which privilege is missing).
    """
    if kind == _MISSING_INDEX:
        return ServiceUnavailable(
            f"Elasticsearch at {where} has no patient index (or its alias is missing): "
            "start the node once to create it"
        )
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
    if status == 401:
        return ServiceUnavailable(
            f"Elasticsearch at {where} refused the node's credentials ({status} {kind}): "
            "check elasticsearch_username and elasticsearch_password"
        )
    if status == 403:
        # Authenticated, but the user's roles do not allow this action; the
        # reason names the action and the privileges that would grant it.
        because = f": {reason}" if reason else ""
        return ServiceUnavailable(
            f"Elasticsearch at {where} denied the node's user a privilege it needs "
            f"({status} {kind}{because}); grant it as docker/setup-elasticsearch.sh does"
        )
    return MMEError(f"Elasticsearch at {where} rejected a request ({status} {kind})")


def item_failure(item: dict[str, Any], where: str, *, default_status: int = 500) -> MMEError:
    """The error of one failed item (``error``, and ``status`` unless it is an mget's)."""
    error = item.get("error")
    kind = error.get("type", "error") if isinstance(error, dict) else str(error)
    status = item.get("status", default_status)
    return failure_from_status(status, kind, where, reason=error_reason(item))


def error_reason(body: Any) -> str:
    """Elasticsearch's ``error.reason`` in an answer's body, or ``""``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("reason", ""))
    return ""


def error_type(item: dict[str, Any]) -> str:
    """The ``error.type`` of a failed item, or ``""``."""
    error = item.get("error")
    return str(error.get("type", "")) if isinstance(error, dict) else ""


def is_missing_index(error: NotFoundError) -> bool:
    """Whether a 404 means the index is gone, not just the document."""
    return error.message == _MISSING_INDEX


def is_index_failure(item: dict[str, Any]) -> bool:
    """Whether a bulk or mget item failed for the index's state, not for its record.

    A write block, a missing index (or alias), or a refused privilege: every
    other item of the request fails alike, so the request as a whole failed.
    """
    return error_type(item) in {_WRITE_BLOCK, _MISSING_INDEX} or item.get("status") in {401, 403}


def without_credentials(url: str) -> str:
    """``url`` fit for messages and logs: any ``user:password@`` removed."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
