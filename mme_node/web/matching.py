"""Matching one patient from its page: on this node, or with peer nodes.

Both call ``node.matches`` as the JSON API does (so both are recorded in the
history and notify as usual) and show each result with its score, the
other clinician's contact and why it matched: shared genes and variants,
and for each of the patient's terms the best matching term of the other
patient with their most informative common ancestor.
"""

from __future__ import annotations

from starlette.responses import Response

from mme_node.concurrency import run_cpu_bound
from mme_node.errors import InvalidRequest
from mme_node.model import PatientRecord
from mme_node.node import Node
from mme_node.peers import PeerOutcome
from mme_node.web.pages import Call, signed_in
from mme_node.web.patients import patient_page
from mme_node.web.views import match_view, term_views


@signed_in()
async def match_locally(call: Call) -> Response:
    owner = call.visitor.patients_owner()
    record = await call.node.patients.get(owner, call.path("patient_id"))
    results = await call.node.matches.local(owner, record.patient.id)
    ontology = call.node.release.ontology
    return await call.render(
        "match_results.html",
        {
            "record": record,
            "terms": term_views(ontology, record.patient),
            "where": "local",
            "outcomes": [
                {
                    "peer": "this node",
                    "error": None,
                    "elapsed_ms": None,
                    "results": [
                        match_view(
                            ontology,
                            shown.result.score,
                            shown.patient,  # another owner's patient: as its consent allows
                            shown.explanation,
                            shown.result.phenotype_score,
                            shown.result.genotype_score,
                            shown.level,
                        )
                        for shown in results
                    ],
                }
            ],
        },
    )


@signed_in()
async def match_externally(call: Call) -> Response:
    owner = call.visitor.patients_owner()
    record = await call.node.patients.get(owner, call.path("patient_id"))
    peers = [name for name in call.form.getlist("peer") if isinstance(name, str)]
    if not peers:
        return await patient_page(
            call, record, peers_error="Choose at least one peer node.", status=400
        )
    try:
        outcomes = await call.node.matches.external(owner, record.patient.id, peers)
    except InvalidRequest as error:  # a peer disabled or removed since the page was shown
        return await patient_page(call, record, peers_error=error.message, status=400)
    ontology = call.node.release.ontology
    # Reading and explaining a peer's patient is milliseconds of CPU each (about 0.1 s for
    # two patients of 500 terms), and a peer may return 200: off the event loop.
    shown = await run_cpu_bound(lambda: [_outcome_view(call.node, record, o) for o in outcomes])
    return await call.render(
        "match_results.html",
        {
            "record": record,
            "terms": term_views(ontology, record.patient),
            "where": "peers",
            "outcomes": shown,
        },
    )


def _outcome_view(node: Node, record: PatientRecord, outcome: PeerOutcome) -> dict[str, object]:
    """One peer's answer as the page shows it, each result explained against ``record``."""
    ontology = node.release.ontology
    return {
        "peer": outcome.peer,
        "error": outcome.error,
        "elapsed_ms": round(outcome.elapsed_ms),
        "results": [
            match_view(
                ontology,
                remote.score,
                remote.patient,
                node.matches.explain_remote(record.patient, remote.patient),
            )
            for remote in outcome.results
        ],
    }
