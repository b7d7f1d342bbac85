"""My patients: the list, one patient's page, and the case form (new and edit).

Every write goes through ``node.patients`` as ``/api/patients`` does, so the
form is refused for exactly the reasons the API would refuse the same JSON,
and an edit carries the version it started from (a stale edit is refused
with the current version, and may then be saved over it deliberately).
"""

from __future__ import annotations

import asyncio
import functools
import math
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from mme_node.errors import AlreadyExists, Conflict, InvalidPatient, InvalidRequest
from mme_node.model import PatientRecord
from mme_node.services.history import HISTORY_PAGE_SIZE
from mme_node.web.case_form import DISCLOSURE_CHOICES, SEX_CHOICES, SHARING_CHOICES, CaseForm
from mme_node.web.context import node_of
from mme_node.web.cookies import APP_PATH
from mme_node.web.lookups import (
    INHERITANCE_ROOT,
    ONSET_ROOT,
    exact_term,
    term_choices,
    warm_up_search,
)
from mme_node.web.pages import Call, patient_url, signed_in
from mme_node.web.views import consent_text, gene_symbols, gene_views, term_name, term_views

PAGE_SIZE = 25
MAX_SEARCH = 200


@signed_in()
async def list_patients(call: Call) -> Response:
    owner = call.visitor.patients_owner()
    query = call.request.query_params.get("q", "").strip()[:MAX_SEARCH]
    page_number = _page_number(call.request.query_params.get("page", "1"))
    page = await call.node.patients.search(owner, query, (page_number - 1) * PAGE_SIZE, PAGE_SIZE)
    new_matches = await call.node.history.unseen_counts(owner)
    ontology = call.node.release.ontology
    return await call.render(
        "patients.html",
        {
            "query": query,
            "page": page,
            "page_number": page_number,
            "pages": max(1, math.ceil(page.total / PAGE_SIZE)),
            "rows": [
                {
                    "record": record,
                    "genes": gene_symbols(record.patient),
                    "terms": sum(1 for f in record.patient.features if f.id in ontology),
                    "new_matches": new_matches.get(record.patient.id, 0),
                }
                for record in page.records
            ],
            "deleted": call.request.query_params.get("deleted", ""),
        },
    )


@signed_in()
async def show_patient(call: Call) -> Response:
    owner = call.visitor.patients_owner()
    record = await call.node.patients.get(owner, call.path("patient_id"))
    return await patient_page(call, record)


async def patient_page(
    call: Call, record: PatientRecord, peers_error: str = "", status: int = 200
) -> Response:
    """The page of one patient: the case, matching buttons, a page of its match history."""
    before = call.before("a match number")
    history = await call.node.history.history_page(
        record.owner, record.patient.id, before, HISTORY_PAGE_SIZE
    )
    ontology = call.node.release.ontology
    # Back to the history, at the foot of the page, when moving between its pages.
    here, at_history = patient_url(record.patient.id), "#history-heading"
    older = history.next_before
    return await call.render(
        "patient.html",
        {
            "record": record,
            "terms": term_views(ontology, record.patient),
            "genes": gene_views(call.node.patients.genes, record.patient),
            "disorders": [d.id for d in record.patient.disorders],
            "onset": term_name(ontology, record.patient.age_of_onset or ""),
            "inheritance": term_name(ontology, record.patient.inheritance_mode or ""),
            "history": history.matches,
            "older": None if older is None else f"{here}?before={older}{at_history}",
            "newest": None if before is None else here + at_history,
            "peers": call.node.matches.peers.enabled(),
            "saved": call.request.query_params.get("saved", ""),
            "consent": consent_text(record.consent or call.node.sharing.default_consent),
            "default_consent": record.consent is None,
            "peers_error": peers_error,
        },
        status=status,
    )


@signed_in()
async def new_patient_form(call: Call) -> Response:
    call.visitor.patients_owner()
    visitor = call.visitor
    blank = CaseForm(contact_name=visitor.person_name, contact_email=visitor.email)
    return await _render_form(call, blank, editing=None)


@signed_in()
async def create_patient(call: Call) -> Response:
    owner = call.visitor.patients_owner()
    return await _save(call, owner, CaseForm.from_form(call.form), stored=None)


@signed_in()
async def edit_patient_form(call: Call) -> Response:
    owner = call.visitor.patients_owner()
    record = await call.node.patients.get(owner, call.path("patient_id"))
    ontology = call.node.release.ontology
    case = CaseForm.from_record(record, functools.partial(term_name, ontology))
    return await _render_form(call, case, editing=record)


@signed_in()
async def update_patient(call: Call) -> Response:
    owner = call.visitor.patients_owner()
    stored = await call.node.patients.get(owner, call.path("patient_id"))
    case = CaseForm.from_form(call.form)
    case.id = stored.patient.id  # the id is the page's: it is shown, not edited
    if case.version is None:
        raise InvalidRequest("the form has no version field: reload the edit page")
    return await _save(call, owner, case, stored=stored)


@signed_in()
async def delete_patient(call: Call) -> Response:
    owner = call.visitor.patients_owner()
    patient_id = call.path("patient_id")
    # An erasure like the API's: history, change feed and bytes on disk too, audited.
    await call.node.erasure.erase(owner, patient_id, f"web:{call.visitor.name}")
    return RedirectResponse(
        f"{APP_PATH}/patients?{urlencode({'deleted': patient_id})}", status_code=303
    )


async def _save(call: Call, owner: str, case: CaseForm, stored: PatientRecord | None) -> Response:
    release = call.node.release
    patient = await asyncio.to_thread(
        case.patient_json,
        functools.partial(exact_term, release),
        None if stored is None else stored.patient,
    )
    expected = None if stored is None else case.version
    consent = case.consent_json(None if stored is None else stored.consent)
    try:
        # A new case never replaces one: the store refuses an id in use, even
        # one another tab or colleague saved a moment ago.
        record, _ = await call.node.patients.submit(
            owner, patient, expected, consent, create_only=stored is None
        )
    except InvalidPatient as error:
        problems = list(error.problems) or [("form", error.message)]
        return await _render_form(call, case.with_problems(problems), stored, status=422)
    except AlreadyExists:
        taken = case.with_problems(
            [("patient.id", "you already have a patient with this id: edit that one instead")]
        )
        return await _render_form(call, taken, stored, status=409)
    except Conflict:
        current = await call.node.patients.get(owner, case.id)
        changed = current.updated.strftime("%d %b %Y %H:%M UTC") if current.updated else ""
        case.version = current.version
        message = (
            f"This case was changed by someone else while you edited it (it is now version "
            f"{current.version}, saved {changed}). Your changes are still below and nothing "
            "was saved. Open the case in another tab to compare; saving this form again "
            "replaces that version with yours."
        )
        return await _render_form(call, case.with_error(message), current, status=409)
    return RedirectResponse(patient_url(record.patient.id) + "?saved=1", status_code=303)


async def _render_form(
    call: Call, case: CaseForm, editing: PatientRecord | None, status: int = 200
) -> Response:
    release = node_of(call.request).release
    warm_up_search(release)
    ontology = release.ontology
    context: dict[str, Any] = {
        "case": case.with_spare_rows(),
        "editing": editing,
        "sex_choices": SEX_CHOICES,
        "sharing_choices": SHARING_CHOICES,
        "disclosure_choices": DISCLOSURE_CHOICES,
        "default_consent": consent_text(call.node.sharing.default_consent),
        "data_use": [] if editing is None or editing.consent is None else editing.consent.data_use,
        "onset_choices": term_choices(ontology, ONSET_ROOT),
        "inheritance_choices": term_choices(ontology, INHERITANCE_ROOT),
        "action": patient_url(editing.patient.id, "edit")
        if editing
        else f"{APP_PATH}/patients/new",
    }
    return await call.render("case_form.html", context, status=status)


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and int(text) > 0 else 1
