"""Matching on a store that retrieves candidates itself: exact scores for a few.

On the embedded store the matcher keeps every patient in memory and scores
them all. A store that is a :class:`~mme_node.stores.base.CandidateSource`
(Elasticsearch) holds more patients than one machine should, so there each
match asks the store for candidates (patients sharing informative ancestor
terms, a gene or a variant), indexes just those in a small
:class:`MatchIndex`, and ranks it with the same code and weights as the
embedded store: a retrieved patient gets exactly the score it would get
there. Only a patient the store does not retrieve can be missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hpo import Ontology
from mme_node.matching.index import MatchIndex, PatientKey
from mme_node.model import Consent, Patient, PatientRecord
from mme_node.security.consent import SHIPPED_DEFAULT_CONSENT, Audience
from mme_node.stores.base import CandidateSource, PatientStore

DEFAULT_RETRIEVAL_DEPTH = 500
"""Candidates asked for per search (phenotype, genotype) when the store retrieves them.

Retrieval ranks by summed IC of shared ancestors, exact scoring by normalised
similarity, so a query's best matches can sit deep in the retrieval order.
On synthetic cohorts of 600 to 4,800 patients, depth 500 gave every query of
600 patients its exact best 10, and 96-99% of queries of larger ones their
exact best 10 or 5 (figures in docs/elasticsearch.md). Decoding and indexing
1,000 candidates costs about 30 ms per match.
"""


def candidate_source(store: PatientStore) -> CandidateSource | None:
    """``store`` if it retrieves candidates itself, else None (match from memory)."""
    return store if isinstance(store, CandidateSource) else None


@dataclass(frozen=True, slots=True)
class Candidates:
    """The patients retrieved for one query, indexed for exact ranking."""

    index: MatchIndex
    records: dict[PatientKey, PatientRecord]

    @classmethod
    def of(
        cls,
        ontology: Ontology,
        records: Iterable[PatientRecord],
        default_consent: Consent = SHIPPED_DEFAULT_CONSENT,
    ) -> Candidates:
        index = MatchIndex(ontology, default_consent)
        found: dict[PatientKey, PatientRecord] = {}
        for record in records:
            index.add(record)
            found[record.key] = record
        return cls(index, found)


@dataclass(frozen=True, slots=True)
class CandidateRetrieval:
    """Asks a :class:`CandidateSource` for the candidates of a query, ``depth`` per search."""

    source: CandidateSource
    depth: int = DEFAULT_RETRIEVAL_DEPTH

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"retrieval depth must be at least 1, not {self.depth}")

    async def records(
        self, query: Patient, limit: int, audience: Audience | None = None
    ) -> list[PatientRecord]:
        """The stored patients worth scoring for the best ``limit`` matches of ``query``.

        Never fewer than ``limit + 1`` per search, so that the query's own
        record, when stored, cannot take the place of a match. For a peer's
        ``audience``, only patients it may be shown.
        """
        depth = max(self.depth, limit + 1)
        return await self.source.candidates(query, depth, test=query.test, audience=audience)
