"""The storage interface every patient store implements.

The embedded SQLite store and the Elasticsearch store both satisfy
:class:`PatientStore`, and the contract suite in ``tests/stores/`` runs the
same tests against each. Callers above the store see only this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mme_node.errors import AlreadyExists
from mme_node.model import Patient, PatientRecord
from mme_node.security.consent import Audience

if TYPE_CHECKING:
    # Annotations only: importing the elastic package at run time would need the
    # optional client and would import this module back (elastic.store uses it).
    from mme_node.stores.elastic.mapping import TermWeights


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, with the total number of records that matched."""

    records: tuple[PatientRecord, ...]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record a bulk import refused, and why (one per bad record)."""

    patient_id: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What ``/heartbeat`` tells about the store: is it answering, and what it holds."""

    ok: bool
    kind: str
    detail: str = ""


ProgressCallback = Callable[[int], None]
"""Called with the number of records handled since the previous call."""


def check_save_condition(expected_version: int | None, create_only: bool) -> None:
    """Refuse a save asked both to create only and to replace a version (a caller's bug)."""
    if create_only and expected_version is not None:
        raise ValueError("a save is either create-only or expects a stored version, not both")


def already_exists(record: PatientRecord) -> AlreadyExists:
    """The refusal of a create-only save of ``record``, the same from every store."""
    return AlreadyExists(
        f"patient {record.patient.id!r} already exists: "
        "choose another id, or replace it with its current version"
    )


async def record_chunks(store: PatientStore, size: int) -> AsyncIterator[list[PatientRecord]]:
    """Every stored record, ``size`` at a time (for work done in a worker thread per chunk)."""
    chunk: list[PatientRecord] = []
    async for record in store.iter_records():
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class PatientStore(Protocol):
    """Durable patient storage. An acknowledged write survives a crash.

    Errors raised are :mod:`mme_node.errors` values: ``NotFound`` for a missing
    patient, ``Conflict`` for a duplicate create or a stale version, and
    ``ServiceUnavailable`` when the backing service does not answer.
    """

    kind: str

    async def open(self) -> None:
        """Connect and create what is missing (tables, indexes). Idempotent."""

    async def close(self) -> None: ...

    async def save(
        self,
        record: PatientRecord,
        expected_version: int | None = None,
        *,
        create_only: bool = False,
    ) -> tuple[PatientRecord, bool]:
        """Create or replace ``record``; return the stored record and whether it was created.

        On create the version is 1; on replace it is the old version plus one.
        ``expected_version`` (if given) must equal the stored version, else
        ``Conflict``; given for a patient that does not exist, also ``Conflict``.
        ``create_only`` refuses to replace: if the owner already has a patient
        of that id, ``AlreadyExists`` and nothing changes; of two concurrent
        creations of one id, exactly one wins. It excludes ``expected_version``
        (``ValueError``). ``created`` is kept from the first write; ``updated``
        is set now.
        """
        ...

    async def get(self, owner: str, patient_id: str) -> PatientRecord:
        """The record, or ``NotFound``."""
        ...

    async def get_many(self, keys: Sequence[tuple[str, str]]) -> list[PatientRecord | None]:
        """The records of ``(owner, patient_id)`` keys, in order; None for a missing one.

        One round trip for all of them (what a match answer reads), however
        many there are; a key asked twice is answered twice.
        """
        ...

    async def list(self, owner: str | None, offset: int = 0, limit: int = 50) -> Page:
        """Records of one owner (or of all owners when None), ordered by patient id."""
        ...

    async def delete(self, owner: str, patient_id: str) -> None:
        """Erase the patient everywhere the store mentions it, or ``NotFound``."""
        ...

    async def import_many(
        self,
        records: Iterable[PatientRecord],
        on_progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Create-or-replace many records in batches; a bad record never stops the rest.

        Records are durable batch by batch: after a crash, every record of a
        batch that was acknowledged (reported through ``on_progress``) is there.
        """
        ...

    def iter_records(self) -> AsyncIterator[PatientRecord]:
        """Every stored record, in no particular order (used to build match indexes)."""
        ...

    async def count(self) -> int: ...

    async def health(self) -> StoreHealth: ...

    async def reachable(self) -> bool:
        """Whether the store answers, at a cost that does not grow with the patients; never raises.

        For the liveness check (``GET /health``), which anyone may call as often as they like.
        """
        ...


@runtime_checkable
class CandidateSource(Protocol):
    """A store that narrows a match down to a few candidates by itself (Elasticsearch).

    The matcher then keeps no patient in memory: it asks for candidates on
    every match and scores only those, exactly. A store without this method
    (SQLite) is matched from the in-memory index of every patient.
    """

    async def candidates(
        self, patient: Patient, limit: int, *, test: bool, audience: Audience | None = None
    ) -> list[PatientRecord]:
        """Stored patients worth scoring against ``patient``, at most ``limit`` per search kind.

        Only test patients when ``test``, only real patients otherwise; no
        repeats. With an ``audience`` (a peer), only patients whose consent
        reaches it, so that the ``limit`` is not spent on patients it may not see.
        """
        ...


@runtime_checkable
class ReleaseIndexed(Protocol):
    """A store whose documents are built with an HPO release (Elasticsearch: term closures).

    Switching releases rebuilds them (:meth:`swap_release`, run by the one
    process that activates the release); every other process then only
    follows (:meth:`use_release`). The SQLite store keeps submissions only and
    derives terms in memory, so it needs neither.
    """

    async def swap_release(
        self,
        hpo_release: str,
        term_weights: TermWeights,
        renormalise: Callable[[PatientRecord], PatientRecord] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Rebuild every patient for ``hpo_release``, then serve it; the number rebuilt."""
        ...

    async def use_release(self, hpo_release: str, term_weights: TermWeights) -> None:
        """Follow a swap another process made."""
        ...
