"""What an HPO release switch did to the stored patients, and where reports are kept.

:func:`compare_patients` derives each stored patient with the release being
left and with the release being activated (both from the submitted ids, see
:mod:`mme_node.vocabulary.normalise`) and tells what changed: terms replaced
by another, pending terms that the new release places ("activated"), and
terms the new release cannot place ("unresolved"), of which those matched
until now were "not carried over". A :class:`ReleaseReport` gathers them for
one activation; :class:`ReleaseReports` keeps reports in the node's SQLite
file, written in the same transaction as the activation itself.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo import Release
from mme_node.errors import NotFound
from mme_node.model import PatientRecord
from mme_node.stores.database import SerialConnection
from mme_node.vocabulary.normalise import derive_record


@dataclass(frozen=True, slots=True)
class PatientTermChanges:
    """How one patient's terms differ between the old and the new release.

    ``replaced`` pairs the term matched before with the term matched now;
    ``activated`` are submitted ids pending before and matched now;
    ``unresolved`` are submitted ids the new release cannot place, and
    ``not_carried_over`` those of them that were matched before.
    """

    owner: str
    patient_id: str
    replaced: tuple[tuple[str, str], ...] = ()
    activated: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    not_carried_over: tuple[str, ...] = ()
    changed: bool = False
    """The terms matched on (observed or excluded) differ."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.owner, self.patient_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "replaced": [list(pair) for pair in self.replaced],
            "activated": list(self.activated),
            "unresolved": list(self.unresolved),
            "notCarriedOver": list(self.not_carried_over),
            "changed": self.changed,
        }

    @classmethod
    def from_json(cls, owner: str, patient_id: str, data: dict[str, Any]) -> PatientTermChanges:
        return cls(
            owner=owner,
            patient_id=patient_id,
            replaced=tuple((old, new) for old, new in data["replaced"]),
            activated=tuple(data["activated"]),
            unresolved=tuple(data["unresolved"]),
            not_carried_over=tuple(data["notCarriedOver"]),
            changed=data["changed"],
        )


def compare_patient(record: PatientRecord, old: Release, new: Release) -> PatientTermChanges | None:
    """What switching from ``old`` to ``new`` does to ``record``; None if nothing to report."""
    before = derive_record(record, old).patient
    after = derive_record(record, new).patient
    replaced: dict[tuple[str, str], None] = {}
    activated: dict[str, None] = {}
    not_carried_over: dict[str, None] = {}
    # Both derivations keep the submitted features in the same order.
    for was, now in zip(before.features, after.features, strict=True):
        if was.pending and not now.pending:
            activated[now.source_id] = None
        elif now.pending and not was.pending:
            not_carried_over[now.source_id] = None
        elif not now.pending and was.id != now.id:
            replaced[(was.id, now.id)] = None
    changes = PatientTermChanges(
        owner=record.owner,
        patient_id=record.patient.id,
        replaced=tuple(replaced),
        activated=tuple(activated),
        unresolved=after.pending_terms,
        not_carried_over=tuple(not_carried_over),
        changed=(before.observed_terms, before.excluded_terms)
        != (after.observed_terms, after.excluded_terms),
    )
    if not (changes.replaced or changes.activated or changes.unresolved or changes.changed):
        return None
    return changes


def suggestions(release: Release, terms: Iterable[str]) -> dict[str, list[str]]:
    """What ``release`` suggests instead of each unresolved term (its ``consider`` terms)."""
    found = {}
    for term in terms:
        retired = release.ontology.obsolete.get(term)
        found[term] = list(retired.replaced_by + retired.consider) if retired else []
    return found


@dataclass(frozen=True)
class ReleaseReport:
    """One release activation: from which release to which, and what it did to the patients.

    ``patients`` lists only patients with something to report; ``total`` is
    the number of stored patients compared. ``seq`` is the activation's
    change seq once it is recorded.
    """

    from_version: str
    from_key: str
    to_version: str
    to_key: str
    total: int
    patients: tuple[PatientTermChanges, ...]
    suggestions: dict[str, list[str]] = field(default_factory=dict)
    seq: int | None = None
    created: datetime.datetime | None = None
    actor: str | None = None

    @property
    def changed(self) -> int:
        """Patients whose matched terms differ between the two releases."""
        return sum(patient.changed for patient in self.patients)

    @property
    def replaced_terms(self) -> list[tuple[str, str, int]]:
        """``(term before, term now, patients)``, most frequent first."""
        counts = Counter(pair for patient in self.patients for pair in patient.replaced)
        return [(old, new, n) for (old, new), n in _by_count(counts)]

    @property
    def activated_terms(self) -> list[tuple[str, int]]:
        counts = Counter(term for patient in self.patients for term in patient.activated)
        return _by_count(counts)

    @property
    def unresolved_terms(self) -> list[tuple[str, int]]:
        counts = Counter(term for patient in self.patients for term in patient.unresolved)
        return _by_count(counts)

    def unresolved_by_owner(self) -> dict[str, list[PatientTermChanges]]:
        """Patients with terms the new release cannot place, by owner (owners sorted)."""
        owners: dict[str, list[PatientTermChanges]] = {}
        for patient in sorted(self.patients, key=lambda p: p.key):
            if patient.unresolved:
                owners.setdefault(patient.owner, []).append(patient)
        return owners

    def summary_json(self) -> dict[str, Any]:
        """The report without its patients (what the reports table keeps as summary)."""
        return {
            "seq": self.seq,
            "created": self.created.isoformat() if self.created else None,
            "actor": self.actor,
            "from": {"version": self.from_version, "key": self.from_key},
            "to": {"version": self.to_version, "key": self.to_key},
            "patients": self.total,
            "patientsChanged": self.changed,
            "patientsWithUnresolvedTerms": sum(bool(p.unresolved) for p in self.patients),
            "replacedTerms": [
                {"from": old, "to": new, "patients": n} for old, new, n in self.replaced_terms
            ],
            "activatedTerms": [{"term": t, "patients": n} for t, n in self.activated_terms],
            "unresolvedTerms": [
                {"term": t, "patients": n, "consider": self.suggestions.get(t, [])}
                for t, n in self.unresolved_terms
            ],
        }

    def to_json(self) -> dict[str, Any]:
        """The whole report: the summary and the patients with unresolved terms by owner."""
        return self.summary_json() | {
            "unresolvedByOwner": {
                owner: [
                    {
                        "patientId": patient.patient_id,
                        "terms": list(patient.unresolved),
                        "notCarriedOver": list(patient.not_carried_over),
                    }
                    for patient in patients
                ]
                for owner, patients in self.unresolved_by_owner().items()
            },
            "changedPatients": [
                {"owner": p.owner, "patientId": p.patient_id} | p.to_json() for p in self.patients
            ],
        }


def _by_count(counts: Counter[Any]) -> list[Any]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


class ReleaseReports:
    """The reports of every release activation, in the node's database file."""

    def __init__(self, database_path: Path) -> None:
        self._database = SerialConnection(database_path, "HPO release reports")

    def close(self) -> None:
        self._database.close()

    @staticmethod
    def writer(report: ReleaseReport) -> Callable[[sqlite3.Connection, int], None]:
        """Writes ``report`` as the report of change ``seq``, in the caller's transaction."""

        def write(connection: sqlite3.Connection, seq: int) -> None:
            created = datetime.datetime.now(datetime.UTC)
            summary = report.summary_json() | {"seq": seq, "created": created.isoformat()}
            summary["suggestions"] = report.suggestions
            connection.execute(
                "INSERT INTO hpo_reports (seq, created, actor, summary) VALUES (?, ?, ?, ?)",
                (seq, created.isoformat(), report.actor, json.dumps(summary)),
            )
            connection.executemany(
                "INSERT INTO hpo_report_patients (report_seq, owner, patient_id, changes)"
                " VALUES (?, ?, ?, ?)",
                ((seq, p.owner, p.patient_id, json.dumps(p.to_json())) for p in report.patients),
            )

        return write

    async def get(self, seq: int | None = None) -> ReleaseReport:
        """The report of activation ``seq`` (the latest if None), or ``NotFound``."""
        return await self._database.run(self._get, seq)

    async def summaries(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest reports without their patients, newest first."""
        return await self._database.run(self._summaries, limit)

    async def forget_patient(self, owner: str, patient_id: str) -> None:
        """Erase the patient from every report (it was deleted)."""
        await self._database.run(self._forget_patient, owner, patient_id)

    def _get(self, seq: int | None) -> ReleaseReport:
        with self._database.transaction() as connection:
            if seq is None:
                row = connection.execute(
                    "SELECT seq, summary FROM hpo_reports ORDER BY seq DESC LIMIT 1"
                ).fetchone()
            else:
                row = connection.execute(
                    "SELECT seq, summary FROM hpo_reports WHERE seq = ?", (seq,)
                ).fetchone()
            if row is None:
                which = "no HPO release switch has been" if seq is None else f"no report {seq} was"
                raise NotFound(f"{which} recorded on this node")
            patients = connection.execute(
                "SELECT owner, patient_id, changes FROM hpo_report_patients"
                " WHERE report_seq = ? ORDER BY owner, patient_id",
                (row[0],),
            ).fetchall()
        summary = json.loads(row[1])
        return ReleaseReport(
            from_version=summary["from"]["version"],
            from_key=summary["from"]["key"],
            to_version=summary["to"]["version"],
            to_key=summary["to"]["key"],
            total=summary["patients"],
            patients=tuple(
                PatientTermChanges.from_json(owner, patient_id, json.loads(changes))
                for owner, patient_id, changes in patients
            ),
            suggestions=summary.get("suggestions", {}),
            seq=row[0],
            created=datetime.datetime.fromisoformat(summary["created"]),
            actor=summary["actor"],
        )

    def _summaries(self, limit: int) -> list[dict[str, Any]]:
        with self._database.transaction() as connection:
            rows = connection.execute(
                "SELECT summary FROM hpo_reports ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        summaries = []
        for (text,) in rows:
            summary = json.loads(text)
            summary.pop("suggestions", None)
            summaries.append(summary)
        return summaries

    def _forget_patient(self, owner: str, patient_id: str) -> None:
        with self._database.transaction("IMMEDIATE") as connection:
            connection.execute(
                "DELETE FROM hpo_report_patients WHERE owner = ? AND patient_id = ?",
                (owner, patient_id),
            )
