"""The searches the Elasticsearch store sends: candidate retrieval and listings.

Candidates come from two searches sent in one ``_msearch``: a phenotype search
scoring each patient by the summed information content of the ancestor terms
it shares with the query (exact, thanks to the boolean similarity of
``phenotype_closure``), and a genotype search for a shared variant or gene.
Both see only test patients for a test query and only real ones otherwise,
and for a peer only the patients whose consent reaches it, so that patients
it may not see take no place among the candidates. The scores only choose
who is retrieved; the matching layer ranks exactly.
"""

from __future__ import annotations

from mme_node.model import Patient
from mme_node.security.consent import Audience
from mme_node.stores.elastic.mapping import (
    Document,
    TermWeights,
    audience_tags,
    clinical_picture,
    gene_identifiers,
)

MAX_PHENOTYPE_TERMS = 1000
"""Most closure terms a phenotype search asks for, the most informative first.

Elasticsearch refuses queries of more clauses than a heap-dependent limit
that is never below 1024.
"""

GENE_BOOST = 1.0
VARIANT_BOOST = 2.0
"""A shared variant outranks a shared gene alone; both add up."""

RECORD_ONLY = ["record"]
"""Source filter: hits carry the stored record and nothing else."""

SEARCH_HEADER = {"allow_partial_search_results": False}
"""The ``_msearch`` header of each search: fail rather than answer from some shards.

A partial answer would silently leave patients out of a match.
"""


def informative_terms(patient: Patient, weights: TermWeights) -> list[tuple[str, float]]:
    """The closure terms of the query's picture with positive IC, most informative first.

    Ties by id. The picture holds excluded terms too (see ``clinical_picture``).
    """
    closure = weights.closure(clinical_picture(patient))
    ranked = sorted(
        ((term, float(ic)) for term, ic in closure.items() if ic > 0),
        key=lambda item: (-item[1], item[0]),
    )
    return ranked[:MAX_PHENOTYPE_TERMS]


def phenotype_search(
    terms: list[tuple[str, float]], limit: int, *, test: bool, audience: Audience | None = None
) -> Document | None:
    """Patients sharing any of ``terms``, scored by the summed IC of those shared."""
    if not terms:
        return None
    should = [{"term": {"phenotype_closure": {"value": term, "boost": ic}}} for term, ic in terms]
    return _candidate_search(should, limit, test=test, audience=audience)


def genotype_search(
    patient: Patient, limit: int, *, test: bool, audience: Audience | None = None
) -> Document | None:
    """Patients sharing a variant (scored 2) or a gene in any namespace (scored 1), or both."""
    should: list[Document] = []
    genes = [
        {"terms": {f"genes.{namespace}": values}}
        for namespace, values in gene_identifiers(patient).items()
        if values
    ]
    if genes:
        should.append(_scored({"bool": {"should": genes}}, GENE_BOOST))
    if patient.variant_keys:
        should.append(_scored({"terms": {"variants": list(patient.variant_keys)}}, VARIANT_BOOST))
    if not should:
        return None
    return _candidate_search(should, limit, test=test, audience=audience)


def candidate_searches(
    patient: Patient,
    weights: TermWeights,
    limit: int,
    *,
    test: bool,
    audience: Audience | None = None,
) -> list[Document]:
    """The request bodies of the candidate ``_msearch`` (none when nothing can match).

    With an ``audience`` (a peer), only patients it may be shown are searched.
    """
    terms = informative_terms(patient, weights)
    searches = (
        phenotype_search(terms, limit, test=test, audience=audience),
        genotype_search(patient, limit, test=test, audience=audience),
    )
    return [search for search in searches if search is not None]


def listing_search(owner: str | None, offset: int, limit: int) -> Document:
    """One page of one owner's patients (all owners when None), by patient id."""
    query: Document = {"match_all": {}} if owner is None else {"term": {"owner": owner}}
    return {
        "query": query,
        "sort": [{"patient_id": "asc"}, {"owner": "asc"}],
        "from": offset,
        "size": limit,
        "track_total_hits": True,
        "_source": RECORD_ONLY,
    }


def _scored(query: Document, boost: float) -> Document:
    return {"constant_score": {"filter": query, "boost": boost}}


def _candidate_search(
    should: list[Document], limit: int, *, test: bool, audience: Audience | None
) -> Document:
    filters: list[Document] = [{"term": {"test": test}}]
    if audience is not None:
        filters.append(reaching(audience))
    return {
        "size": limit,
        "track_total_hits": False,
        "_source": RECORD_ONLY,
        "query": {"bool": {"filter": filters, "should": should, "minimum_should_match": 1}},
    }


def reaching(audience: Audience) -> Document:
    """The filter keeping the patients ``audience`` may be shown.

    A document written before the ``reach`` field existed has none: it is
    kept, and the matcher's consent mask decides (it is rewritten with the
    field by its next save or the next HPO release switch).
    """
    unmarked: Document = {"bool": {"must_not": [{"exists": {"field": "reach"}}]}}
    return {
        "bool": {
            "should": [{"terms": {"reach": audience_tags(audience)}}, unmarked],
            "minimum_should_match": 1,
        }
    }
