"""The inbox: new matches across all my patients, in and out, and the node's notices.

A notification email's link lands here (after signing in). Inbound entries
are queries from peers that found my patients; outbound entries are what
peers returned for my patients, with the other clinician's contact as the
peer sent it. Notices (:mod:`mme_node.services.notices`) say what the node
has to tell about my patients besides matches: terms a new HPO release could
not carry over, with the terms HPO suggests instead. Each stays until marked
as seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.responses import RedirectResponse, Response

from hpo import Ontology
from mme_node.concurrency import run_cpu_bound
from mme_node.errors import InvalidPatient, InvalidRequest
from mme_node.formats.schemas import load_patient
from mme_node.model import Patient
from mme_node.services.history import RecordedMatch, RecordedResult
from mme_node.services.notices import TERMS_NOT_CARRIED_OVER, Notice
from mme_node.web.cookies import APP_PATH
from mme_node.web.pages import Call, signed_in
from mme_node.web.views import ContactView, TermView, term_name

INBOX_PATH = f"{APP_PATH}/inbox"
NOTICES_SHOWN = 100
"""Unseen notices listed at once (newest first); the page says when there are more."""


@dataclass(frozen=True, slots=True)
class TermLeftBehind:
    """A submitted term the release in use cannot place, and what HPO suggests instead.

    ``name`` is the term's name in the release before the switch ("" if unknown).
    """

    id: str
    name: str
    suggestions: tuple[TermView, ...]


@dataclass(frozen=True, slots=True)
class NoticeView:
    """A notice as the inbox shows it; ``terms`` only for terms not carried over."""

    notice: Notice
    release: str = ""
    terms: tuple[TermLeftBehind, ...] = ()


def notice_view(notice: Notice, ontology: Ontology) -> NoticeView:
    """The notice with its terms and suggestions named by the release in use.

    ``details`` is plain JSON kept in the database: anything but the shape
    issue 9 writes is shown by its message alone.
    """
    terms = notice.details.get("terms")
    if notice.kind != TERMS_NOT_CARRIED_OVER or not isinstance(terms, dict):
        return NoticeView(notice)
    names = notice.details.get("names")
    names = names if isinstance(names, dict) else {}
    left = tuple(
        TermLeftBehind(
            str(term),
            str(names.get(term, "")),
            tuple(
                TermView(suggested, term_name(ontology, suggested))
                for suggested in suggestions
                if isinstance(suggested, str)
            )
            if isinstance(suggestions, list)
            else (),
        )
        for term, suggestions in terms.items()
    )
    return NoticeView(notice, str(notice.details.get("release", "")), left)


@dataclass(frozen=True, slots=True)
class InboxResult:
    """One new result: ours (``local``) or the peer's patient with its contact."""

    patient_id: str
    score: float
    local: bool
    patient: Patient | None = None
    contact: ContactView | None = None


def inbox_result(result: RecordedResult) -> InboxResult:
    if result.patient_json is None:
        return InboxResult(result.patient_id, result.score, local=True)
    try:
        patient, _ = load_patient(json.loads(result.patient_json))
    except InvalidPatient:
        return InboxResult(result.patient_id, result.score, local=False)
    return InboxResult(
        result.patient_id, result.score, False, patient, ContactView.of(patient.contact)
    )


@signed_in()
async def show_inbox(call: Call) -> Response:
    owner = call.visitor.patients_owner()
    matches = await call.node.history.unseen(owner)
    notices = call.node.notices
    unseen = await notices.for_owner(owner, unseen_only=True, limit=NOTICES_SHOWN)
    ontology = call.node.release.ontology
    # Up to 200 matches of up to 200 peer results, each read as a patient: CPU work.
    entries = await run_cpu_bound(lambda: [_entry(match) for match in matches])
    return await call.render(
        "inbox.html",
        {
            "entries": entries,
            "new_results": sum(len(match.results) for match in matches),  # as the nav counts
            "notices": [notice_view(notice, ontology) for notice in unseen],
            "unseen_notices": await notices.unseen_count(owner),
        },
    )


def _entry(match: RecordedMatch) -> dict[str, object]:
    """One inbox entry; an inbound one names who asked, when the peer said."""
    asker = None if match.query_contact is None else ContactView.of(match.query_contact)
    return {
        "match": match,
        "asker": asker,
        "results": [inbox_result(result) for result in match.results],
    }


@signed_in()
async def mark_seen(call: Call) -> Response:
    """Mark one match (``match``), one notice (``notice``) or everything (``match=all``) seen."""
    owner = call.visitor.patients_owner()
    which, notice = call.field("match"), call.field("notice")
    if notice:
        if not notice.isdigit():
            raise InvalidRequest('field "notice" must be a notice number')
        await call.node.notices.mark_seen(owner, [int(notice)])
    elif which == "all":
        await call.node.history.mark_seen(owner)
        await call.node.notices.mark_all_seen(owner)
    elif which.isdigit():
        await call.node.history.mark_seen(owner, int(which))
    else:
        raise InvalidRequest('field "match" must be a match number or "all"')
    return RedirectResponse(INBOX_PATH, status_code=303)
