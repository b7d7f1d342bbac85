"""The admin pages: the node's store, HPO release, peers, clients and audit trail.

Read-only: changes are made with the ``mme-node`` command line and the admin
API, whose services these pages read (``node.releases`` for the HPO release
and its switch reports, ``node.audit`` for the audit trail).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.responses import Response

from hpo import Ontology
from mme_node.errors import InvalidRequest, NotFound
from mme_node.security.audit import EVENT_MEANINGS, AuditEvent, StoredEntry
from mme_node.services.release_report import ReleaseReport
from mme_node.web.cookies import APP_PATH
from mme_node.web.pages import Call, signed_in
from mme_node.web.views import term_name

AUDIT_PATH = f"{APP_PATH}/admin/audit"
AUDIT_PAGE = 50
SWITCHES_SHOWN = 5
REPORT_TERMS_SHOWN = 10
"""Terms listed per kind of change in the switch report (the most frequent first)."""


@dataclass(frozen=True, slots=True)
class ReportTerm:
    """A term of a switch report, named by the release in use ("" if it cannot name it)."""

    id: str
    name: str
    patients: int
    now: str = ""
    now_name: str = ""


@dataclass(frozen=True, slots=True)
class SwitchReportView:
    """The latest switch report as counts and the most frequent terms; owners, not patients."""

    report: ReleaseReport
    with_unresolved: int
    replaced: list[ReportTerm]
    activated: list[ReportTerm]
    unresolved: list[ReportTerm]
    owners_told: dict[str, int]

    @classmethod
    def of(cls, report: ReleaseReport, ontology: Ontology) -> SwitchReportView:
        def named(term: str, patients: int, now: str = "") -> ReportTerm:
            return ReportTerm(
                term, term_name(ontology, term), patients, now, term_name(ontology, now)
            )

        shown = REPORT_TERMS_SHOWN
        return cls(
            report=report,
            with_unresolved=sum(bool(patient.unresolved) for patient in report.patients),
            replaced=[named(old, n, new) for old, new, n in report.replaced_terms[:shown]],
            activated=[named(term, n) for term, n in report.activated_terms[:shown]],
            unresolved=[named(term, n) for term, n in report.unresolved_terms[:shown]],
            owners_told=dict(
                sorted(Counter(p.owner for p in report.patients if p.not_carried_over).items())
            ),
        )


@signed_in(admin=True)
async def show_admin(call: Call) -> Response:
    node = call.node
    releases = node.releases
    try:
        report: SwitchReportView | None = SwitchReportView.of(
            await releases.report(), node.release.ontology
        )
    except NotFound:
        report = None
    latest_entry = await node.audit.newest(limit=1)
    return await call.render(
        "admin.html",
        {
            "admin_page": "overview",
            "clients": node.tokens.list(),
            "peers": node.matches.peers.list(),
            "release": await releases.active_info(),
            "serving": node.release.info,
            "releases": await releases.compiled(),
            "switches": await releases.history(SWITCHES_SHOWN),
            "report": report,
            "audit_entries": latest_entry[0].seq if latest_entry else 0,
            "store": await node.store.health(),
            "patient_count": await node.store.count(),
        },
    )


@signed_in(admin=True)
async def show_audit(call: Call) -> Response:
    """The audit trail, newest first, a page at a time; the chain verified when asked."""
    query = call.request.query_params
    before = call.before("an entry number")
    event = _event(query.get("event", ""))
    audit = call.node.audit
    entries = await audit.newest(before=before, limit=AUDIT_PAGE, event=event)
    verification = await audit.verify() if query.get("verify") == "1" else None
    older = None
    if len(entries) == AUDIT_PAGE and entries[-1].seq > 1:
        older = _audit_url(before=entries[-1].seq, event=event)
    return await call.render(
        "audit.html",
        {
            "admin_page": "audit",
            "entries": [_entry_view(entry) for entry in entries],
            "event": event,
            "events": [(kind.value, EVENT_MEANINGS[kind]) for kind in AuditEvent],
            "verification": verification,
            "older": older,
            "newest": _audit_url(event=event) if before is not None else None,
        },
    )


def _entry_view(entry: StoredEntry) -> dict[str, object]:
    """One entry's fields for the table; ``details`` as ``key: value`` pairs."""
    document = entry.document
    details = document.get("details") or {}
    return {
        "seq": entry.seq,
        "event": document.get("event", ""),
        "time": document.get("time", ""),
        "actor": document.get("actor"),
        "recipient": document.get("recipient"),
        "subject": document.get("subject"),
        "pseudonym": document.get("pseudonym"),
        "level": document.get("level"),
        "score": document.get("score"),
        "test": document.get("test"),
        "details": [
            (key, _plain(value)) for key, value in details.items() if value not in (None, "")
        ],
    }


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    return str(value)


def _audit_url(*, before: int | None = None, event: AuditEvent | None = None) -> str:
    parameters = {
        name: value
        for name, value in (("event", event.value if event else ""), ("before", before or ""))
        if value
    }
    return AUDIT_PATH + (f"?{urlencode(parameters)}" if parameters else "")


def _event(text: str) -> AuditEvent | None:
    if not text:
        return None
    try:
        return AuditEvent(text)
    except ValueError:
        raise InvalidRequest(
            f"event must be one of {', '.join(AuditEvent)}, not {text!r}"
        ) from None
