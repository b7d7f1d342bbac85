"""One outbound ``POST /match`` to one peer, bounded in time and size, answer validated.

:func:`ask_peer` never raises for anything the peer or the network does: it
returns a :class:`PeerOutcome` whose ``error`` says what went wrong, so one
bad peer cannot spoil a fan-out. The guarantees a caller may rely on:

* one deadline (``peer.timeout``) covers connecting, retries, back-off and
  reading the whole body, so a peer that drip-feeds bytes is cut too;
* the body is streamed and abandoned once larger than ``max_response_bytes``
  (counted after content decoding, so a compressed bomb is cut as well);
* retries happen only when the peer surely did not process the request
  (connection refused/unreachable) or said so (502, 503, 504), with
  jittered exponential back-off, and never past the deadline;
* redirects are not followed (``X-Auth-Token`` must not reach another host)
  and TLS certificates are verified by the client (never ``verify=False``);
* at most :data:`MAX_PEER_RESULTS` results are accepted in one answer;
* every result must carry ``score.patient`` in [0, 1] and a patient that
  :func:`~mme_node.formats.schemas.load_patient` accepts, else the whole answer of
  that peer is rejected as ``invalid-response``;
* the token is sent only in the header; it never appears in a message.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from mme_node import __version__
from mme_node.errors import InvalidPatient
from mme_node.formats.jsontext import JSONTextError, load_json
from mme_node.formats.schemas import load_patient
from mme_node.model import Patient
from mme_node.peers.registry import Peer

DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
MAX_PEER_RESULTS = 200
"""More results than this in one answer is refused whole: each is validated and stored."""
RETRY_STATUSES = frozenset({502, 503, 504})
_MAX_MESSAGE = 500

PeerErrorKind = Literal[
    "timeout",
    "connection",
    "http-status",
    "too-large",
    "invalid-json",
    "invalid-response",
    "circuit-open",
    "not-shared",
    "internal",
]


@dataclass(frozen=True, slots=True)
class PeerError:
    """Why a peer gave no usable answer; ``status`` is its HTTP status if it sent one."""

    kind: PeerErrorKind
    message: str
    status: int | None = None

    @property
    def is_peer_failure(self) -> bool:
        """Whether this says the peer itself is unwell: unreachable, too slow, or a 5xx.

        A 4xx (a peer refusing one patient with 422, say) or an answer we
        could not use says nothing about the peer's health, so the circuit
        breaker does not count it.
        """
        if self.kind in ("timeout", "connection"):
            return True
        return self.kind == "http-status" and self.status is not None and self.status >= 500


@dataclass(frozen=True, slots=True)
class RemoteMatch:
    """One validated result from a peer; ``raw`` is the result object as received."""

    score: float
    patient: Patient
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PeerOutcome:
    """What one peer answered: its results, or an error (then ``results`` is empty)."""

    peer: str
    results: list[RemoteMatch] = field(default_factory=list)
    error: PeerError | None = None
    elapsed_ms: float = 0.0
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` tries; before retry n (0-based) wait U(0, base * 2**n), capped."""

    attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 1.0

    def delay(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2**retry))


DEFAULT_RETRY = RetryPolicy()


def media_type(api_version: str) -> str:
    """The MME media type of an API version: ``application/vnd.ga4gh.matchmaker.v1.0+json``."""
    return f"application/vnd.ga4gh.matchmaker.v{api_version}+json"


def match_request_body(patient_json: dict[str, Any]) -> bytes:
    """The ``POST /match`` body for an already dumped patient."""
    return json.dumps({"patient": patient_json}, ensure_ascii=False).encode("utf-8")


async def ask_peer(
    client: httpx.AsyncClient,
    peer: Peer,
    body: bytes,
    *,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    retry: RetryPolicy = DEFAULT_RETRY,
    rng: random.Random | None = None,
) -> PeerOutcome:
    """Send ``body`` (see :func:`match_request_body`) to ``peer`` and validate its answer."""
    exchange = _Exchange(client, peer, body, max_response_bytes, retry, rng or random.Random())
    started = time.perf_counter()
    results: list[RemoteMatch] = []
    error: PeerError | None = None
    deadline = asyncio.get_running_loop().time() + peer.timeout
    try:
        async with asyncio.timeout_at(deadline):
            results = await exchange.run(deadline)
    except TimeoutError:
        error = PeerError(
            "timeout", f"no complete answer within {peer.timeout:g} s", exchange.status
        )
    except _Failure as failure:
        error = failure.error
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return PeerOutcome(peer.name, results, error, elapsed_ms, exchange.status)


class _Failure(Exception):
    """Ends the exchange with ``error``; ``retryable`` when another attempt may succeed."""

    def __init__(self, error: PeerError, *, retryable: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable


class _Exchange:
    """The attempts of one ask: remembers the last HTTP status for the outcome."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        peer: Peer,
        body: bytes,
        max_response_bytes: int,
        retry: RetryPolicy,
        rng: random.Random,
    ) -> None:
        self.client = client
        self.peer = peer
        self.body = body
        self.max_response_bytes = max_response_bytes
        self.retry = retry
        self.rng = rng
        self.status: int | None = None

    async def run(self, deadline: float) -> list[RemoteMatch]:
        """Attempt, backing off between retryable failures, until ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                return await self._attempt(deadline - loop.time())
            except _Failure as failure:
                attempt += 1
                pause = self.retry.delay(attempt - 1, self.rng)
                retry = failure.retryable and attempt < self.retry.attempts
                if retry and loop.time() + pause < deadline:
                    await asyncio.sleep(pause)
                    continue
                if attempt == 1:
                    raise
                error = failure.error
                message = f"{error.message} (after {attempt} attempts)"
                raise _Failure(PeerError(error.kind, message, error.status)) from failure

    async def _attempt(self, remaining: float) -> list[RemoteMatch]:
        media = media_type(self.peer.api_version)
        headers = {
            "X-Auth-Token": self.peer.token,
            "Content-Type": media,
            "Accept": media,
            "User-Agent": f"mme-node/{__version__}",
        }
        self.status = None
        try:
            async with self.client.stream(
                "POST",
                self.peer.match_url,
                content=self.body,
                headers=headers,
                timeout=max(remaining, 0.001),
                follow_redirects=False,
            ) as response:
                self.status = response.status_code
                _check_status(response)
                content = await self._read_body(response)
        except httpx.ConnectError as error:
            raise _Failure(_transport_error(error), retryable=True) from error
        except httpx.TimeoutException as error:
            raise _Failure(
                PeerError("timeout", f"timed out: {_describe(error)}", self.status)
            ) from error
        except httpx.DecodingError as error:
            raise _Failure(
                PeerError(
                    "invalid-response", f"cannot decode the body: {_describe(error)}", self.status
                )
            ) from error
        except httpx.RequestError as error:
            raise _Failure(_transport_error(error)) from error
        # Validating up to max_response_bytes of patients is CPU work: off the event loop.
        return await asyncio.to_thread(
            _parse_answer, content, response.headers.get("content-type"), response.status_code
        )

    async def _read_body(self, response: httpx.Response) -> bytes:
        limit = self.max_response_bytes
        too_large = PeerError(
            "too-large", f"answer larger than {limit} bytes", response.status_code
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Failure(too_large)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise _Failure(too_large)
            chunks.append(chunk)
        return b"".join(chunks)


def _check_status(response: httpx.Response) -> None:
    if response.status_code == 200:
        return
    error = PeerError(
        "http-status",
        f"HTTP {response.status_code} {response.reason_phrase}".rstrip(),
        response.status_code,
    )
    raise _Failure(error, retryable=response.status_code in RETRY_STATUSES)


def _transport_error(error: httpx.RequestError) -> PeerError:
    return PeerError("connection", f"{type(error).__name__}: {_describe(error)}")


def _describe(error: Exception) -> str:
    return _clip(str(error) or type(error).__name__)


def _clip(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def _parse_answer(content: bytes, content_type: str | None, status: int) -> list[RemoteMatch]:
    """Validate a ``/match`` answer body into results, or raise ``_Failure``.

    One malformed result rejects the whole answer: a peer that sends one
    score outside [0, 1] cannot be trusted on the others.
    """
    try:
        document = load_json(content)
    except JSONTextError as error:
        raise _Failure(
            PeerError(
                "invalid-json",
                _clip(f"answer {error} (Content-Type {content_type or 'missing'})"),
                status,
            )
        ) from error
    if not isinstance(document, dict):
        raise _invalid("answer is not a JSON object", status)
    results = document.get("results")
    if not isinstance(results, list):
        raise _invalid("answer has no 'results' list", status)
    if len(results) > MAX_PEER_RESULTS:
        raise _invalid(
            f"answer has {len(results)} results; at most {MAX_PEER_RESULTS} are accepted", status
        )
    return [_remote_match(index, result, status) for index, result in enumerate(results)]


def _remote_match(index: int, result: object, status: int) -> RemoteMatch:
    where = f"results[{index}]"
    if not isinstance(result, dict):
        raise _invalid(f"{where} is not an object", status)
    score = result.get("score")
    if not isinstance(score, dict):
        raise _invalid(f"{where}.score is not an object", status)
    value = score.get("patient")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0.0 <= value <= 1.0
    ):
        raise _invalid(f"{where}.score.patient {value!r} is not a number in [0, 1]", status)
    if not isinstance(result.get("patient"), dict):
        raise _invalid(f"{where}.patient is not an object", status)
    try:
        patient, _warnings = load_patient(result["patient"])
    except InvalidPatient as error:
        raise _invalid(f"{where}: {error.message}", status) from error
    return RemoteMatch(float(value), patient, result)


def _invalid(message: str, status: int) -> _Failure:
    return _Failure(PeerError("invalid-response", _clip(message), status))
