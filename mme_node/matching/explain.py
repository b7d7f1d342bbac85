"""Explanations for submitters: what a candidate shares with the query, term by term."""

from __future__ import annotations

import numpy as np

from hpo import Release
from mme_node.model import Explanation, Patient, TermMatch


def explain(
    release: Release, query: Patient, candidate: Patient, *, pictures: bool = False
) -> Explanation:
    """Shared genes, variants and disorders, each query term's best match, and contradictions.

    For every distinct observed query term, the observed candidate term whose
    most informative common ancestor (MICA) has the highest information
    content (the Resnik similarity); ties go to the candidate's earlier term.
    The cost grows with the two patients' term counts, not their product
    (see :meth:`hpo.SimilarityEngine.best_matches`). With ``pictures`` (a
    scorer that compares clinical pictures, see :mod:`.phenotype`) excluded
    terms take part on both sides, each match says which side observed or
    excluded its term, and the terms both exclude are listed as shared
    negatives.
    """
    ontology = release.ontology
    query_terms = _terms(query, pictures, release)
    candidate_terms = _terms(candidate, pictures, release)
    best = release.similarity.best_matches(query_terms, candidate_terms)
    # Rounded for display only: best_matches compared the raw ICs.
    term_matches = [
        TermMatch(
            query_term=match.query_term,
            query_label=ontology.name(match.query_term),
            candidate_term=match.candidate_term,
            candidate_label=ontology.name(match.candidate_term),
            common_ancestor=match.ancestor,
            common_ancestor_label=ontology.name(match.ancestor),
            information_content=round(match.information_content, 4),
            query_observed=query_terms[match.query_term],
            candidate_observed=candidate_terms[match.candidate_term],
        )
        for match in best
    ]
    return Explanation(
        shared_genes=_shared_gene_symbols(query, candidate),
        shared_variants=_shared_variants(query, candidate),
        shared_disorders=tuple(
            sorted({d.id for d in query.disorders} & {d.id for d in candidate.disorders})
        ),
        term_matches=tuple(term_matches),
        conflicting_terms=_conflicts(release, query, candidate),
        shared_excluded_terms=_shared_negatives(query, candidate) if pictures else (),
    )


def _terms(patient: Patient, pictures: bool, release: Release) -> dict[str, bool]:
    """The current terms a match is explained by, each with whether it is observed.

    Observed terms first; a term both observed and excluded counts as observed.
    """
    ontology = release.ontology
    terms = dict.fromkeys((t for t in patient.observed_terms if t in ontology), True)
    if pictures:
        for term in patient.excluded_terms:
            if term in ontology:
                terms.setdefault(term, False)
    return terms


def _shared_negatives(query: Patient, candidate: Patient) -> tuple[str, ...]:
    """The terms both exclude, in the query's order."""
    theirs = set(candidate.excluded_terms)
    return tuple(t for t in dict.fromkeys(query.excluded_terms) if t in theirs)


def _shared_gene_symbols(query: Patient, candidate: Patient) -> tuple[str, ...]:
    shared = set(query.gene_ids) & set(candidate.gene_ids)
    symbols = {
        feature.gene.hgnc_id: feature.gene.symbol or feature.gene.id
        for feature in candidate.genomic_features
        if feature.gene.hgnc_id in shared
    }
    return tuple(sorted(str(symbol) for symbol in symbols.values()))


def _conflicts(release: Release, query: Patient, candidate: Patient) -> tuple[str, ...]:
    """Observed terms of one side that the other side excludes (directly or by an ancestor)."""
    ontology = release.ontology
    found: list[str] = []
    for observed, excluded in (
        (query.observed_terms, candidate.excluded_terms),
        (candidate.observed_terms, query.excluded_terms),
    ):
        known = [e for e in excluded if e in ontology]
        if not known:
            continue
        is_excluded = np.zeros(len(ontology), dtype=bool)
        is_excluded[ontology.indices_of(known)] = True
        found.extend(
            term
            for term in observed
            if term in ontology and is_excluded[ontology.ancestors(term)].any()
        )
    return tuple(dict.fromkeys(found))


def _shared_variants(query: Patient, candidate: Patient) -> tuple[str, ...]:
    """The candidate's variants the query has too, each once, by the key it was submitted with.

    Either side may hold the allele on GRCh37 with a GRCh38 lift, or on GRCh38.
    """
    query_keys = set(query.variant_keys)
    shared = {
        variant.key
        for genomic in candidate.genomic_features
        if (variant := genomic.variant) is not None
        and variant.key
        and query_keys.intersection(variant.keys)
    }
    return tuple(sorted(k for k in shared if k))
