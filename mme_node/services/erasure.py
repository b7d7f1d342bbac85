"""Erasure that erases: a patient, everything that mentions it, and its bytes on disk.

Erasing a patient removes its record from the store and from every running
match index, its match history (its own matches, with the results peers sent
about it), its place in other matches' results and in the change feed. All
SQLite connections overwrite deleted rows with zeros (``secure_delete``), and
the write-ahead log, which still holds earlier copies of the pages, is then
copied into the file and truncated: nothing of the patient survives in the
database file or its ``-wal``. The audit log keeps an erasure entry naming
the patient only by its audit subject, and the receipt lists who was shown
the patient (from the audit log, which outlives it) so they can be told.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mme_node.errors import NotFound
from mme_node.security.audit import AuditEntry, AuditEvent, AuditLog, Exposure
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.services.history import MatchHistory
from mme_node.services.patients import PatientService
from mme_node.stores.changes import ChangeLog
from mme_node.stores.database import wipe_log

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    """What an erasure did, for the submitter (and its data protection officer).

    ``shown_to`` lists every recipient the audit log says was shown the
    patient; ``wiped`` is False when the write-ahead log could not be
    truncated at once (another process kept reading): the node's next
    checkpoint finishes it.
    """

    owner: str
    patient_id: str
    erased_at: datetime
    subject: str
    history_rows: int
    shown_to: tuple[Exposure, ...]
    wiped: bool


@dataclass
class ErasureService:
    patients: PatientService
    history: MatchHistory
    changes: ChangeLog
    audit: AuditLog
    pseudonyms: Pseudonyms
    database_path: Path

    async def erase(self, owner: str, patient_id: str, actor: str) -> ErasureReceipt:
        """Erase ``owner``'s patient ``patient_id`` on behalf of ``actor``; ``NotFound`` if absent.

        Safe to repeat after a failure half-way: a patient already gone from
        the store but still mentioned in the history is erased the rest of
        the way.
        """
        subject = self.pseudonyms.subject(owner, patient_id)
        try:
            await self.patients.delete(owner, patient_id)
        except NotFound:
            if not await self.history.mentions(owner, patient_id):
                raise
            await self.patients.forget_mentions(owner, patient_id)
        await self.changes.forget_patient(owner, patient_id, subject)
        shown_to = tuple(await self.audit.exposures(subject))
        erased_at = datetime.now(UTC)
        entry = AuditEntry(
            AuditEvent.ERASURE,
            erased_at,
            actor=actor,
            subject=subject,
            details={"owner": owner, "shown_to": [exposure.recipient for exposure in shown_to]},
        )
        rows = await self.history.forget_patient(owner, patient_id, audit=[entry])
        wiped = await asyncio.to_thread(wipe_log, self.database_path)
        if not wiped:
            log.warning(
                "erasure: the write-ahead log is still in use; the next checkpoint wipes it"
            )
        return ErasureReceipt(owner, patient_id, erased_at, subject, rows, shown_to, wiped)
