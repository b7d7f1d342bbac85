"""What the match page shows of an explanation: excluded terms are marked, shared negatives said."""

from __future__ import annotations

from hpo import Release
from mme_node.model import Explanation, TermMatch
from mme_node.web.views import ExplanationView

SEIZURE = "HP:0001250"
TONIC_CLONIC_SEIZURE = "HP:0002069"
MICROCEPHALY = "HP:0000252"


def test_explanation_view_marks_excluded_terms_and_names_shared_negatives(
    bundled_release: Release,
) -> None:
    explanation = Explanation(
        term_matches=(
            TermMatch(
                query_term=SEIZURE,
                query_label="Seizure",
                candidate_term=TONIC_CLONIC_SEIZURE,
                candidate_label="Bilateral tonic-clonic seizure",
                common_ancestor=SEIZURE,
                common_ancestor_label="Seizure",
                information_content=2.5,
                query_observed=False,
            ),
        ),
        shared_excluded_terms=(MICROCEPHALY,),
    )
    view = ExplanationView.of(bundled_release.ontology, explanation)
    [match] = view.term_matches
    assert (match.query.observed, match.candidate.observed) == (False, True)
    [negative] = view.shared_negatives
    assert (negative.id, negative.name, negative.observed) == (MICROCEPHALY, "Microcephaly", False)
