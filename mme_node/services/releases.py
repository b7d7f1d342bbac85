"""The curator's HPO releases: compile, activate (upgrade or roll back), report, notify.

Both the command line (``mme-node hpo ...``, whether or not a server runs on
the data dir) and the admin API go through :class:`ReleaseService`. An
activation never rewrites a stored submission: it compares every patient as
derived with the old and the new release (the report), rebuilds the
Elasticsearch index of the new release if the patients live there, and then
records the activation, with its report, in the change log. Every serving
process then switches by itself (:mod:`mme_node.matching.follower`): it
builds the new release's match index in the background and swaps it in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hpo import Progress, Release, ReleaseError, ReleaseInfo, ReleaseLibrary
from mme_node.errors import Conflict, NotFound
from mme_node.matching.weights import ReleaseTermWeights
from mme_node.model import Patient, PatientRecord
from mme_node.services.activation_lock import ActivationLock
from mme_node.services.notices import TERMS_NOT_CARRIED_OVER, Notice, OwnerNotices
from mme_node.services.notifications import Notifier
from mme_node.services.release_report import (
    PatientTermChanges,
    ReleaseReport,
    ReleaseReports,
    compare_patient,
    suggestions,
)
from mme_node.stores.base import PatientStore, ReleaseIndexed, record_chunks
from mme_node.stores.changes import ChangeLog, ReleaseChange
from mme_node.vocabulary.normalise import derive_record

log = logging.getLogger(__name__)

COMPARE_CHUNK = 1000
"""Patients compared per worker-thread step."""

ActivationProgress = Callable[[str, int], None]
"""``progress(stage, handled)``: patients handled in ``stage`` since the previous call."""

COMPARING = "comparing patients"
REBUILDING = "rebuilding the Elasticsearch index"


class AlreadyActive(Conflict):
    """The release asked for is the one the node uses already."""


class UnknownRelease(NotFound):
    """No compiled release has the version or key asked for."""


async def active_release(library: ReleaseLibrary, changes: ChangeLog) -> Release:
    """The release this node's database says is active, else the library's default.

    A node's activations are recorded in its own database (the change log), so
    nodes that share one directory of compiled releases each keep their own.
    """
    recorded = await changes.active_release()
    if recorded is None:
        return await asyncio.to_thread(library.active)
    return await asyncio.to_thread(library.release, recorded.release_key)


@dataclass
class ReleaseService:
    library: ReleaseLibrary
    changes: ChangeLog
    store: PatientStore
    reports: ReleaseReports
    notices: OwnerNotices
    notifier: Notifier
    lock: ActivationLock
    """Held from reading the release in use to recording the new one (one activation at a time)."""

    async def active(self) -> Release:
        """The release the node uses (the latest activation in its database)."""
        return await active_release(self.library, self.changes)

    async def active_info(self) -> ReleaseInfo:
        """What :meth:`active` is made of, read from its manifest without opening it.

        Opening a release reads its whole ontology and IC table (seconds); a
        page or listing that only names the release needs none of that.
        """
        recorded = await self.changes.active_release()
        key = recorded.release_key if recorded else await asyncio.to_thread(self.library.active_key)
        if key is None:
            return (await self.active()).info
        try:
            return await asyncio.to_thread(self.library.find, key)
        except ReleaseError as error:
            raise UnknownRelease(str(error)) from error

    async def compiled(self) -> list[ReleaseInfo]:
        """Every compiled release, oldest version first."""
        return await asyncio.to_thread(self.library.list)

    async def history(self, limit: int = 100) -> list[ReleaseChange]:
        """The node's release activations, newest first."""
        return await self.changes.releases(limit)

    async def compile(
        self,
        paths: Sequence[Path],
        progress: Progress | None = None,
        *,
        borrow_annotations: bool = True,
    ) -> ReleaseInfo:
        """Verify and compile the release files (see :meth:`hpo.ReleaseLibrary.compile`)."""
        return await asyncio.to_thread(
            functools.partial(
                self.library.compile, paths, progress, borrow_annotations=borrow_annotations
            )
        )

    async def activate(
        self, name: str, actor: str, progress: ActivationProgress | None = None
    ) -> ReleaseReport:
        """Switch the node to the compiled release ``name`` (a version or a key).

        Compares every stored patient under both releases, rebuilds the
        Elasticsearch index when the store has one, records the activation
        and its report in one transaction, then tells the owners of patients
        whose terms were not carried over (notice, and email when
        notifications are on). ``AlreadyActive`` if ``name`` is in use,
        ``UnknownRelease`` if it is not compiled, ``ActivationInProgress`` if
        another activation of this node (any process) has not finished.
        """
        try:
            target_info = await asyncio.to_thread(self.library.find, name)
        except ReleaseError as error:
            raise UnknownRelease(str(error)) from error
        with self.lock.held(f"HPO release {target_info.version} by {actor}"):
            current = await self.active()
            if target_info.key == current.info.key:
                raise AlreadyActive(
                    f"HPO release {target_info.version} ({target_info.key}) is already active"
                )
            report, patients = await self._switch(current, target_info, actor, progress)
        await self._tell_owners(report, patients, current)
        return report

    async def _switch(
        self,
        current: Release,
        target_info: ReleaseInfo,
        actor: str,
        progress: ActivationProgress | None,
    ) -> tuple[ReleaseReport, dict[tuple[str, str], Patient]]:
        """Compare, rebuild the Elasticsearch index if any, record (the activation lock held)."""
        target = await asyncio.to_thread(self.library.release, target_info.key)
        report, patients = await self._compare(current, target, progress)
        if isinstance(self.store, ReleaseIndexed):
            await self.store.swap_release(
                target.version,
                ReleaseTermWeights(target),
                renormalise=functools.partial(_derived_with, target),
                on_progress=functools.partial(progress, REBUILDING) if progress else None,
            )
        report = dataclasses.replace(report, actor=actor)
        change = await self.changes.append_release(
            target.info.key, target.version, actor, within=self.reports.writer(report)
        )
        report = dataclasses.replace(report, seq=change.seq, created=change.created)
        log.info(
            "HPO release %s activated by %s (change %d): %d patients changed, %d with "
            "unresolved terms",
            target.version,
            actor,
            change.seq,
            report.changed,
            len([p for p in report.patients if p.unresolved]),
        )
        return report, patients

    async def report(self, seq: int | None = None) -> ReleaseReport:
        """The report of activation ``seq`` (the latest if None), or ``NotFound``."""
        return await self.reports.get(seq)

    async def _compare(
        self, old: Release, new: Release, progress: ActivationProgress | None
    ) -> tuple[ReleaseReport, dict[tuple[str, str], Patient]]:
        """The report of switching, and the patients with terms not carried over."""
        found: list[PatientTermChanges] = []
        left_behind: dict[tuple[str, str], Patient] = {}
        total = 0

        def compare(records: list[PatientRecord]) -> None:
            for record in records:
                changes = compare_patient(record, old, new)
                if changes is None:
                    continue
                found.append(changes)
                if changes.not_carried_over:
                    left_behind[record.key] = record.patient

        async for chunk in record_chunks(self.store, COMPARE_CHUNK):
            await asyncio.to_thread(compare, chunk)
            total += len(chunk)
            if progress is not None:
                progress(COMPARING, len(chunk))
        unresolved = {term for changes in found for term in changes.unresolved}
        report = ReleaseReport(
            from_version=old.version,
            from_key=old.info.key,
            to_version=new.version,
            to_key=new.info.key,
            total=total,
            patients=tuple(sorted(found, key=lambda p: p.key)),
            suggestions=suggestions(new, sorted(unresolved)),
        )
        return report, left_behind

    async def _tell_owners(
        self, report: ReleaseReport, patients: dict[tuple[str, str], Patient], before: Release
    ) -> None:
        """A notice (and an email) per patient whose terms were not carried over.

        The terms are named as the release ``before`` named them: the new
        release no longer can, and an id alone means little to a clinician.
        """
        notices = []
        for changes in report.patients:
            if not changes.not_carried_over:
                continue
            terms = ", ".join(changes.not_carried_over)
            notices.append(
                Notice(
                    owner=changes.owner,
                    kind=TERMS_NOT_CARRIED_OVER,
                    patient_id=changes.patient_id,
                    message=(
                        f"HPO release {report.to_version} cannot place {terms} of patient "
                        f"{changes.patient_id}: kept as submitted, not used for matching"
                    ),
                    details={
                        "release": report.to_version,
                        "report": report.seq,
                        "terms": {
                            term: report.suggestions.get(term, [])
                            for term in changes.not_carried_over
                        },
                        "names": {
                            term: before.ontology.name(term)
                            for term in changes.not_carried_over
                            if term in before.ontology
                        },
                    },
                )
            )
        await self.notices.post(notices)
        for notice in notices:
            patient = patients.get((notice.owner, notice.patient_id or ""))
            if patient is not None:
                await self.notifier.tell_contact(
                    patient, "HPO terms not carried over", _email_lines(notice)
                )


def _derived_with(release: Release, record: PatientRecord) -> PatientRecord:
    return derive_record(record, release)


def _email_lines(notice: Notice) -> list[str]:
    lines = [notice.message + ".", ""]
    names = notice.details.get("names", {})
    for term, consider in notice.details["terms"].items():
        named = f"{term} ({names[term]})" if term in names else term
        hint = f" HPO suggests {', '.join(consider)}." if consider else ""
        lines.append(f"- {named}: not a current term of HPO {notice.details['release']}.{hint}")
    lines += [
        "",
        "The patient is still matched on its other terms. Submit it again with current terms "
        "to have them matched; what was submitted is kept unchanged.",
    ]
    return lines
