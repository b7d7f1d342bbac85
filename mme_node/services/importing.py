"""Patients to import from files: MME patient JSON and GA4GH Phenopackets v2.

A source is one JSON file, or a directory walked recursively for ``*.json``.
A file holds one document or a list of them; a document is an MME patient,
``{"patient": {...}}`` (the shape of a match request), ``{"patient": {...},
"consent": {...}}`` (the shape of a submission), or a phenopacket. With
:attr:`ImportFormat.AUTO` the format is decided per document: a phenopacket is
the object with ``metaData`` (required in v2 and absent from MME).

Every document becomes a :class:`Case` labelled with where it came from
(``cases.json[3] (P0001)``: file, 0-based position in a list, patient id), so
that a bad one can be named in the summary. A file that cannot be read or
parsed becomes a single case carrying its problem: it is rejected like an
invalid patient and never stops the files after it.

:class:`CasePreparer` turns cases into submissions for
:meth:`~mme_node.services.patients.PatientService.import_many`: MME JSON through the
same validation and normalisation as the submitter API, phenopackets
translated by :func:`~mme_node.formats.phenopacket.patient_from_phenopacket` with the
contact the caller gives, then normalised the same way.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from mme_node.errors import InvalidRequest
from mme_node.formats.phenopacket import patient_from_phenopacket
from mme_node.model import Consent, Contact
from mme_node.services.patients import PatientService, Submission, check_addressable

MISSING_CONTACT = "a phenopacket names no contact: give one with --contact-name and --contact-href"


class ImportFormat(StrEnum):
    AUTO = "auto"
    MME = "mme"
    PHENOPACKET = "phenopacket"


class UnreadableSource(InvalidRequest):
    """The path to import from is missing, unreadable, or holds no JSON file."""


@dataclass(frozen=True, slots=True)
class Case:
    """One document read from a file, or (``problem`` set) a file that could not be read.

    ``format`` is :attr:`ImportFormat.MME` or :attr:`ImportFormat.PHENOPACKET`
    once a document was read; ``document`` is the patient object itself (an
    MME ``{"patient": ...}`` wrapper already removed) and ``consent`` the
    consent object that came beside it in the wrapper, if any.
    """

    label: str
    format: ImportFormat
    document: object = None
    problem: str | None = None
    consent: object = None


def read_cases(path: Path, format: ImportFormat = ImportFormat.AUTO) -> Iterator[Case]:
    """The cases under ``path``, read lazily file by file, in sorted path order.

    Raises :class:`UnreadableSource` at once (before anything is read) when
    ``path`` is missing or unreadable, or is a directory without ``*.json``.
    """
    files = source_files(path)
    if path.is_dir():
        named = [(file.relative_to(path).as_posix(), file) for file in files]
    else:
        named = [(path.name, path)]
    return (case for name, file in named for case in _file_cases(name, file, format))


def source_files(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else every ``*.json`` file under it, sorted."""
    if path.is_file():
        if not os.access(path, os.R_OK):
            raise UnreadableSource(f"{path}: permission denied")
        return [path]
    if not path.is_dir():
        raise UnreadableSource(f"{path}: no such file or directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise UnreadableSource(f"{path}: permission denied")
    files = sorted(file for file in path.rglob("*.json") if file.is_file())
    if not files:
        raise UnreadableSource(f"{path}: no *.json file in this directory or below")
    return files


def _file_cases(name: str, file: Path, format: ImportFormat) -> Iterator[Case]:
    try:
        with file.open(encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except OSError as error:
        yield Case(name, format, problem=f"cannot read the file: {error.strerror or error}")
        return
    except UnicodeDecodeError as error:
        yield Case(name, format, problem=f"not UTF-8 text: {error.reason} at byte {error.start}")
        return
    except (ValueError, RecursionError) as error:
        yield Case(name, format, problem=f"not valid JSON: {error}")
        return
    if isinstance(data, list):
        for position, document in enumerate(data):
            yield _case(f"{name}[{position}]", document, format)
    else:
        yield _case(name, data, format)


def _case(where: str, document: object, format: ImportFormat) -> Case:
    if format is ImportFormat.AUTO:
        is_phenopacket = isinstance(document, Mapping) and "metaData" in document
        format = ImportFormat.PHENOPACKET if is_phenopacket else ImportFormat.MME
    consent = None
    if format is ImportFormat.MME:
        document, consent = _unwrapped(document)
        patient_id = _text_at(document, ("id",))
    else:
        patient_id = _text_at(document, ("id",)) or _text_at(document, ("subject", "id"))
    label = f"{where} ({patient_id})" if patient_id else where
    return Case(label, format, document, consent=consent)


def _unwrapped(document: object) -> tuple[object, object]:
    """The patient and consent of a ``{"patient": {...}[, "consent": {...}]}`` wrapper.

    Anything else is a bare patient, without consent.
    """
    if isinstance(document, Mapping) and "patient" in document and "id" not in document:
        return document["patient"], document.get("consent")
    return document, None


def _text_at(document: object, keys: Sequence[str]) -> str | None:
    for key in keys:
        if not isinstance(document, Mapping):
            return None
        document = document.get(key)
    return document if isinstance(document, str) and document else None


@dataclass
class CasePreparer:
    """Turns :class:`Case` values into submissions, remembering which carried warnings.

    Pass it as ``prepare`` to :meth:`PatientService.import_many`; a case that
    cannot become a valid patient raises an ``MMEError`` and is rejected.
    ``contact`` is given to every phenopacket (they name none); ``consent``
    to every case that comes without one (None: the node's default applies).
    """

    service: PatientService
    contact: Contact | None = None
    consent: Consent | None = None
    warned: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def __call__(self, case: Case) -> Submission:
        submission = self._submission(case)
        if submission.warnings:
            self.warned.append((case.label, submission.warnings))
        return submission

    def _submission(self, case: Case) -> Submission:
        if case.problem is not None:
            raise InvalidRequest(case.problem)
        if case.format is ImportFormat.MME:
            submission = self.service.prepare(case.document, case.consent)
            if submission.consent is None:
                submission = dataclasses.replace(submission, consent=self.consent)
            return submission
        if self.contact is None:
            raise InvalidRequest(MISSING_CONTACT)
        patient, warnings = patient_from_phenopacket(case.document, self.contact)
        check_addressable(patient)
        normalised, normalise_warnings = self.service.normalise(patient)
        return Submission(
            patient=normalised,
            submitted_json=json.dumps(case.document, ensure_ascii=False, sort_keys=True),
            warnings=tuple(warnings) + tuple(normalise_warnings),
            consent=self.consent,
        )


__all__ = [
    "MISSING_CONTACT",
    "Case",
    "CasePreparer",
    "ImportFormat",
    "UnreadableSource",
    "read_cases",
    "source_files",
]
