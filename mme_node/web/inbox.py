"""The inbox: new matches across all my patients, in and out, until marked as seen.

A notification email's link lands here (after signing in). Inbound entries
are queries from peers that found my patients; outbound entries are what
peers returned for my patients, with the other clinician's contact as the
peer sent it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.responses import RedirectResponse, Response

from mme_node.errors import InvalidPatient, InvalidRequest
from mme_node.formats.schemas import load_patient
from mme_node.model import Patient
from mme_node.services.history import RecordedMatch, RecordedResult
from mme_node.web.cookies import APP_PATH
from mme_node.web.pages import Call, signed_in
from mme_node.web.views import ContactView

INBOX_PATH = f"{APP_PATH}/inbox"


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
    return await call.render(
        "inbox.html",
        {"entries": [_entry(match) for match in matches]},
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
    owner = call.visitor.patients_owner()
    which = call.field("match")
    if which == "all":
        await call.node.history.mark_seen(owner)
    elif which.isdigit():
        await call.node.history.mark_seen(owner, int(which))
    else:
        raise InvalidRequest('field "match" must be a match number or "all"')
    return RedirectResponse(INBOX_PATH, status_code=303)
