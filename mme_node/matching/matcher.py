"""Ranking the stored patients against a query patient, exactly, and explaining the result.

Every patient of the partition (real or test) is scored; nothing is pre-filtered,
so no candidate can be missed. (When enough of the patients that share a gene
with the query outscore what any other patient could reach, the others'
phenotypes are not computed: see :meth:`Matcher._phenotype`; the result is the
same.) For a peer, the patients whose consent does not
reach it are masked out of the scores before the best are chosen (one array
lookup), so a peer still gets its full ``limit`` of patients it may see. On a
store that retrieves candidates itself (Elasticsearch, see :mod:`.retrieval`)
only those are scored, by the same code; for a peer the store retrieves only
patients it may see, and the mask checks them again. The vectorised work
happens in :mod:`hpo.similarity` and in the row counts below; Python loops
only run over query terms and over the few candidates that share a gene,
variant or disorder with the query.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from starlette.concurrency import run_in_threadpool

from hpo import Release
from mme_node.errors import MMEError
from mme_node.matching.explain import explain
from mme_node.matching.index import MatchIndex, Partition, PatientKey, matrix_key, patient_key
from mme_node.matching.retrieval import (
    DEFAULT_RETRIEVAL_DEPTH,
    CandidateRetrieval,
    Candidates,
    candidate_source,
)
from mme_node.matching.scoring import QueryParts, Scores, ScoringWeights, combine, genotype_part
from mme_node.matching.state import Serving, ServingState
from mme_node.matching.weights import ReleaseTermWeights
from mme_node.model import Explanation, MatchResult, Patient, PatientRecord
from mme_node.security.consent import Audience, PeerScope, reach_of
from mme_node.stores.base import PatientStore, ReleaseIndexed, record_chunks

log = logging.getLogger(__name__)

BUILD_CHUNK = 1000
"""Records indexed per worker-thread step when a state is built from the store."""

INLINE_RANK_PROFILES = 20_000
INLINE_RANK_PAIRS = 250_000
"""A query is ranked on the event loop when its partition has at most
:data:`INLINE_RANK_PROFILES` profiles and those times the query's terms are at most
:data:`INLINE_RANK_PAIRS`: 10,000 profiles and a 12-term query (about 2 ms), not 500
terms, nor a one-term query against 200,000 profiles (each row is read whatever the query)."""


@dataclass(frozen=True, slots=True)
class RankedCandidate:
    key: PatientKey
    score: float
    phenotype_score: float
    genotype_score: float


class Matcher:
    """Scores queries against the current :class:`ServingState` of ``serving``.

    The index is kept in step with the store by the change follower
    (:mod:`mme_node.matching.follower`), which applies every acknowledged write,
    from this process or another, under the state's lock. Ranking runs under
    the same lock, so a write never changes the index while a query is being
    scored: in a worker thread, or on the event loop for a small partition
    whose lock is free (:func:`_rank_if_small`).

    When the store is a :class:`~mme_node.stores.base.CandidateSource`, the
    index stays empty: each match scores the ``retrieval_depth`` best
    candidates per search the store returns.
    """

    def __init__(
        self,
        serving: Serving,
        store: PatientStore,
        weights: ScoringWeights,
        *,
        retrieval_depth: int = DEFAULT_RETRIEVAL_DEPTH,
    ) -> None:
        self.serving = serving
        self.store = store
        self.weights = weights
        self.phenotype = weights.phenotype_scorer()
        source = candidate_source(store)
        self.retrieval = None if source is None else CandidateRetrieval(source, retrieval_depth)

    @property
    def release(self) -> Release:
        return self.serving.release

    @property
    def index(self) -> MatchIndex:
        return self.serving.state.index

    async def build_state(self, release: Release) -> ServingState:
        """A new state of ``release`` holding every stored patient, built off the event loop.

        The store's scan is not a snapshot: whoever swaps the state in must
        replay the writes acknowledged since the build began (the follower
        does). A store that retrieves candidates gets an empty index.
        """
        state = ServingState.empty(release, self.serving.default_consent)
        if self.retrieval is not None:
            return state
        async for chunk in record_chunks(self.store, BUILD_CHUNK):
            await asyncio.to_thread(state.add, chunk)
        await asyncio.to_thread(self.warm, state)
        return state

    async def follow_release(self, release: Release) -> None:
        """Make a store whose documents depend on the release (Elasticsearch) use ``release``.

        The process that activated ``release`` rebuilt the store for it
        already; this only points this process's store at it (term weights of
        candidate queries). A store out of step is logged, not fatal: stored
        records are derived again on read, so matching stays right.
        """
        if not isinstance(self.store, ReleaseIndexed):
            return
        try:
            await self.store.use_release(release.version, ReleaseTermWeights(release))
        except MMEError as error:
            log.error("store not switched to HPO release %s: %s", release.version, error)

    def warm(self, state: ServingState) -> None:
        """Fill the scorer's per-patient caches before the state serves its first query."""
        with state.lock:
            for partition in (state.index.real, state.index.test):
                self.phenotype.warm(state.release, partition)

    async def load(self) -> int:
        """Rebuild the index of the current release from the store; the number of patients.

        For start-up and tests: writes acknowledged while it runs are left to
        the follower, which starts after it. A store that retrieves
        candidates is only counted.
        """
        if self.retrieval is not None:
            return await self.store.count()
        state = await self.build_state(self.serving.release)
        self.serving.swap(state)
        return len(state.index)

    async def match(
        self,
        query: Patient,
        *,
        limit: int,
        min_score: float = 0.0,
        exclude: PatientKey | None = None,
        with_explanations: bool = False,
        scope: PeerScope | None = None,
    ) -> list[MatchResult]:
        """The best ``limit`` stored patients for ``query``, best first, scores in (0, 1].

        ``query.test`` selects the test partition. ``exclude`` names the
        query's own record when a stored patient is matched against the rest;
        a query never matches a patient with its own id and contact either
        (a peer echoing one of our patients back). The whole match runs on
        the serving state current when it starts, even if a release switch
        swaps in another meanwhile. With a peer's ``scope``, only patients
        whose consent reaches that peer are scored; None (this node's own
        submitters) scores every patient.
        """
        state = self.serving.state
        ranked, records = await self._ranked_records(state, query, limit, min_score, exclude, scope)
        # Deleted between scoring and reading: no longer a match.
        found = [(c, r) for c, r in zip(ranked, records, strict=True) if r is not None]
        explanations: list[Explanation | None] = [None] * len(found)
        if with_explanations:
            pictures = self.phenotype.compares_pictures
            # Only the returned results are explained, in a worker: CPU work off the event loop.
            explanations = list(
                await run_in_threadpool(
                    lambda: [
                        explain(state.release, query, r.patient, pictures=pictures)
                        for _, r in found
                    ]
                )
            )
        return [
            MatchResult(
                record=record,
                score=candidate.score,
                phenotype_score=candidate.phenotype_score,
                genotype_score=candidate.genotype_score,
                explanation=explanation,
            )
            for (candidate, record), explanation in zip(found, explanations, strict=True)
        ]

    async def _ranked_records(
        self,
        state: ServingState,
        query: Patient,
        limit: int,
        min_score: float,
        exclude: PatientKey | None,
        scope: PeerScope | None,
    ) -> tuple[list[RankedCandidate], Sequence[PatientRecord | None]]:
        """The best candidates and their records (None for one deleted meanwhile)."""
        if self.retrieval is not None:
            audience = None
            if scope is not None:
                audience = Audience(scope, reach_of(self.serving.default_consent))
            retrieved = await self.retrieval.records(query, limit, audience)
            return await run_in_threadpool(
                self.rank_retrieved, retrieved, query, limit, min_score, exclude, state, scope
            )
        # Work done on the loop comes in slices of a few milliseconds, each after the
        # requests already waiting (/health among them): with 16 clients on one worker,
        # /health waited 49 ms (median) behind whole matches, 23 ms behind slices.
        await asyncio.sleep(0)
        ranked = _rank_if_small(
            query,
            state,
            functools.partial(self._rank_locked, query, limit, min_score, exclude, state, scope),
        )
        await asyncio.sleep(0)
        if ranked is None:
            ranked = await run_in_threadpool(
                self.rank, query, limit, min_score, exclude, state, scope
            )
        records = await self.store.get_many([candidate.key for candidate in ranked])
        return ranked, [None if record is None else state.derived(record) for record in records]

    def rank(
        self,
        query: Patient,
        limit: int,
        min_score: float = 0.0,
        exclude: PatientKey | None = None,
        state: ServingState | None = None,
        scope: PeerScope | None = None,
    ) -> list[RankedCandidate]:
        """Score every patient of the query's partition; the top ``limit`` with a score > 0.

        ``state`` defaults to the current serving state. With a peer's
        ``scope``, patients it may not see are left out.
        """
        state = state or self.serving.state
        with state.lock:
            return self._rank_locked(query, limit, min_score, exclude, state, scope)

    def _rank_locked(
        self,
        query: Patient,
        limit: int,
        min_score: float,
        exclude: PatientKey | None,
        state: ServingState,
        scope: PeerScope | None,
    ) -> list[RankedCandidate]:
        partition = state.index.partition(query.test)
        allowed = None if scope is None else state.index.allowed(scope)
        return self._rank(state.release, partition, query, limit, min_score, exclude, allowed)

    def rank_retrieved(
        self,
        records: Iterable[PatientRecord],
        query: Patient,
        limit: int,
        min_score: float = 0.0,
        exclude: PatientKey | None = None,
        state: ServingState | None = None,
        scope: PeerScope | None = None,
    ) -> tuple[list[RankedCandidate], list[PatientRecord]]:
        """:meth:`rank` over ``records`` only (a store's candidates), with the records ranked."""
        state = state or self.serving.state
        release = state.release
        candidates = Candidates.of(
            release.ontology, map(state.derived, records), self.serving.default_consent
        )
        partition = candidates.index.partition(query.test)
        allowed = None if scope is None else candidates.index.allowed(scope)
        ranked = self._rank(release, partition, query, limit, min_score, exclude, allowed)
        return ranked, [candidates.records[candidate.key] for candidate in ranked]

    def _rank(
        self,
        release: Release,
        partition: Partition,
        query: Patient,
        limit: int,
        min_score: float,
        exclude: PatientKey | None,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> list[RankedCandidate]:
        """The best candidates of ``partition``; ``allowed`` (per reach) masks out the rest."""
        ontology = release.ontology
        observed = [t for t in query.observed_terms if t in ontology]
        excluded = [t for t in query.excluded_terms if t in ontology]
        matrix = partition.observed
        rows = matrix.rows
        parts = QueryParts(
            phenotype=bool(observed),
            gene=bool(query.gene_ids),
            variant=bool(query.variant_keys),
            disorder=bool(query.disorders),
        )
        gene = _membership(rows, partition.rows_with_genes(query.gene_ids))
        variant = _membership(rows, partition.rows_with_alleles(query.variant_keys))
        disorder = _membership(rows, partition.rows_with_disorders(d.id for d in query.disorders))
        barred = np.zeros(rows, dtype=bool)
        barred[self._own_rows(partition, query, exclude)] = True
        if allowed is not None:
            barred |= ~partition.eligible(allowed)
        phenotype = np.zeros(rows)
        if observed and rows:
            phenotype = self._phenotype(
                release,
                partition,
                observed,
                excluded,
                parts,
                (gene, variant, disorder),
                barred,
                limit,
            )
        score = combine(self.weights, parts, phenotype, gene, variant, disorder)
        score[barred] = -1.0
        floor = max(min_score, reached_by_best(score, limit))
        best = [(key, value) for key, value in matrix.top(score, limit, floor) if value > 0]
        chosen = np.array([matrix.row(key) for key, _ in best], dtype=np.int64)
        genotype = genotype_part(self.weights, parts, gene[chosen], variant[chosen])
        return [
            RankedCandidate(
                key=patient_key(key),
                score=value,
                phenotype_score=float(phenotype[row]),
                genotype_score=float(genotype[position]),
            )
            for position, ((key, value), row) in enumerate(zip(best, chosen, strict=True))
        ]

    def _phenotype(
        self,
        release: Release,
        partition: Partition,
        observed: list[str],
        excluded: list[str],
        parts: QueryParts,
        genotype: tuple[Scores, Scores, Scores],
        barred: npt.NDArray[np.bool_],
        limit: int,
    ) -> Scores:
        """The phenotype part of every row that can be among the best ``limit`` (0 elsewhere).

        A patient that shares no gene, allele or disorder with the query scores
        at most ``ceiling``, the score of a perfect phenotype alone. When at
        least ``limit`` patients that do share one (a few hundred among a
        million, typically) already score above that once their phenotypes are
        scored, no other patient can reach the best ``limit``: the others'
        phenotypes are left unscored (0), which cannot change the ranking, the
        best patients' scores or their phenotype parts. Otherwise every row is
        scored. Scoring a row costs the same whichever rows are scored with it.
        """
        score = self.phenotype.score
        rows = partition.observed.rows
        gene, variant, disorder = genotype
        live = partition.observed.live
        sharing = np.flatnonzero(((gene + variant + disorder) > 0) & live & ~barred)
        if limit <= 0 or not limit <= len(sharing) <= rows // _SHARING_SHARE:
            return score(release, partition, observed, excluded)
        head = score(release, partition, observed, excluded, sharing)
        reached = combine(
            self.weights, parts, head, gene[sharing], variant[sharing], disorder[sharing]
        )
        nothing = np.zeros(1)
        ceiling = combine(self.weights, parts, np.ones(1), nothing, nothing, nothing)[0]
        if np.partition(reached, len(sharing) - limit)[len(sharing) - limit] <= ceiling:
            return score(release, partition, observed, excluded)
        phenotype = np.zeros(rows)
        phenotype[sharing] = head
        return phenotype

    def _own_rows(
        self, partition: Partition, query: Patient, exclude: PatientKey | None
    ) -> npt.NDArray[np.int64]:
        """Rows the query must not match: its own record, and ours that it echoes back."""
        rows = partition.own_rows(query.id, query.contact.href)
        matrix = partition.observed
        if exclude is not None and matrix_key(exclude) in matrix:
            rows = np.append(rows, matrix.row(matrix_key(exclude)))
        return rows


_BLOCK = 1024

_SHARING_SHARE = 4
"""Score only the patients sharing a gene (etc.) first when they are at most 1/4 of the rows."""


def _rank_if_small(
    query: Patient, state: ServingState, ranking: Callable[[], list[RankedCandidate]]
) -> list[RankedCandidate] | None:
    """``ranking()`` (of ``query`` on ``state``) here and now, under the state's lock, if the
    work is small (:data:`INLINE_RANK_PAIRS`); else None.

    A small ranking costs little more CPU than the hand-off to a worker
    thread and back, whose wake-ups also leave the cores idle in between
    (with the validation and the record read also kept on the loop, two
    workers answered 480-490 /match per second at 10,000 patients instead
    of 312-370: docs/benchmarks.md, "Every core busy"). Larger work, and a
    state whose lock is held (the follower is applying writes), goes to a
    worker thread as before: the loop never waits for the lock nor ranks
    for long.
    """
    terms = len(query.observed_terms) + len(query.excluded_terms)
    if not state.lock.acquire(blocking=False):
        return None
    try:
        profiles = state.index.partition(query.test).observed.rows
        if profiles > INLINE_RANK_PROFILES or profiles * max(terms, 1) > INLINE_RANK_PAIRS:
            return None
        return ranking()
    finally:
        state.lock.release()


def reached_by_best(scores: Scores, limit: int) -> float:
    """A score that each of the ``limit`` best ``scores`` reaches (``-inf`` if none is known).

    The ``limit``-th largest of the block maxima: those maxima are ``limit``
    distinct scores at least that high, so the best ``limit`` are too.
    Filtering on it first leaves a handful of rows to sort instead of
    partitioning every row (a pass of max over the scores, 10x cheaper).
    """
    blocks = len(scores) // _BLOCK
    if limit <= 0 or blocks < limit:
        return -np.inf
    maxima = scores[: blocks * _BLOCK].reshape(blocks, _BLOCK).max(axis=1)
    return float(np.partition(maxima, blocks - limit)[blocks - limit])


def _membership(rows: int, sharing: npt.NDArray[np.int64]) -> Scores:
    """1.0 for each of the ``sharing`` rows (they share a gene, allele...), else 0.0."""
    hits = np.zeros(rows)
    hits[sharing] = 1.0
    return hits
