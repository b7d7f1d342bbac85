"""Phenotype features of every pair of published cases, ranking figures, and weight learning.

Shared by ``bench/quality.py`` (the report) and ``bench/train_phenotype_model.py``
(which writes the shipped model file). Every figure is computed from
matrices ``features[name][q, c]``: the feature of candidate ``c`` for query
``q``, computed by the node's own code (:func:`phenotype_features` over a
match index holding every case), so the ranking a figure describes is the
ranking ``Matcher.rank`` produces (``quality.py`` checks that in the same run).

Ranks follow the matcher: best score first, ties in index order, and a
candidate scoring 0 is not returned. A query counts when another case of its
gene is a candidate; its reciprocal rank is that of the first such case.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hpo import Release
from mme_node.matching.index import MatchIndex, matrix_key
from mme_node.matching.phenotype import contradictions, phenotype_features
from mme_node.model import Patient, PatientRecord

Matrix = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

CACHE_VERSION = 1
"""Bump when the way features are computed changes, so that old caches are not read."""

CONTRADICTIONS = "contradictions"
"""The count of contradicted terms (the blend's penalty), stored beside the features."""

GRID = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Values a weight may take in one coordinate step of :func:`fit_convex_weights`."""


@dataclass(frozen=True)
class Cohort:
    """Cases to rank against each other: who is who, and which pairs count."""

    ids: list[str]
    genes: npt.NDArray[np.str_]
    publications: npt.NDArray[np.str_]

    @property
    def size(self) -> int:
        return len(self.ids)

    def same_gene(self) -> Mask:
        return self.genes[:, None] == self.genes[None, :]

    def candidates(self, cross_publication: bool, among: Mask | None = None) -> Mask:
        """``[q, c]``: ``c`` is ranked for ``q`` (never itself; other publications only if asked).

        ``among`` limits both queries' and candidates' cases (a training fold).
        """
        allowed = ~np.eye(self.size, dtype=bool)
        if cross_publication:
            allowed &= self.publications[:, None] != self.publications[None, :]
        if among is not None:
            allowed &= among[:, None] & among[None, :]
        return allowed


def reciprocal_ranks(
    cohort: Cohort, scores: Matrix, cross_publication: bool, among: Mask | None = None
) -> npt.NDArray[np.float64]:
    """Per query, 1 / rank of its first same-gene candidate (NaN where a case is no query)."""
    allowed = cohort.candidates(cross_publication, among)
    hits = allowed & cohort.same_gene()
    queries = np.flatnonzero(hits.any(axis=1))
    result = np.full(cohort.size, np.nan)
    if len(queries) == 0:
        return result
    rows, allowed, hits = scores[queries], allowed[queries], hits[queries]
    best = np.where(hits, rows, -np.inf).max(axis=1)
    first = np.argmax(hits & (rows == best[:, None]), axis=1)
    others = allowed & ~hits
    above = (rows > best[:, None]) & others
    tied_before = (
        (rows == best[:, None]) & others & (np.arange(cohort.size)[None, :] < first[:, None])
    )
    rank = 1 + above.sum(axis=1) + tied_before.sum(axis=1)
    result[queries] = np.where(best > 0, 1.0 / rank, 0.0)
    return result


@dataclass(frozen=True)
class Figures:
    queries: int
    mrr: float
    hit1: float
    hit10: float

    @classmethod
    def of(cls, reciprocal: npt.NDArray[np.float64]) -> Figures:
        counted = reciprocal[~np.isnan(reciprocal)]
        if len(counted) == 0:
            return cls(0, float("nan"), float("nan"), float("nan"))
        return cls(
            len(counted),
            float(counted.mean()),
            float((counted == 1).mean()),
            float((counted >= 0.1).mean()),
        )


def figures(cohort: Cohort, scores: Matrix, cross_publication: bool) -> Figures:
    return Figures.of(reciprocal_ranks(cohort, scores, cross_publication))


def mean_reciprocal_rank(
    cohort: Cohort, scores: Matrix, cross_publication: bool, among: Mask | None = None
) -> float:
    return float(np.nanmean(reciprocal_ranks(cohort, scores, cross_publication, among)))


def weighted(features: Mapping[str, Matrix], weights: Mapping[str, float]) -> Matrix:
    """The model's score of every pair: the weighted mean (weights sum to 1)."""
    total = sum(weight * features[name] for name, weight in weights.items() if weight > 0)
    return np.clip(np.asarray(total, dtype=np.float64), 0.0, 1.0)


def fit_convex_weights(
    cohort: Cohort,
    features: Mapping[str, Matrix],
    names: Sequence[str],
    among: Mask,
    rounds: int = 3,
) -> dict[str, float]:
    """Non-negative weights summing to 1 that maximise cross-publication MRR within ``among``.

    Coordinate ascent from equal weights: each step sets one weight to a value
    of :data:`GRID` and scales the others to keep the sum at 1, keeping the
    best; it stops after ``rounds`` sweeps or a sweep without gain. Only the
    cases in ``among`` are used, as queries and as candidates (a training
    fold), so held-out genes never influence the weights. The objective is
    the figure that matters (rank of the first same-gene case across
    publications) rather than a smooth surrogate: a listwise softmax fit was
    tried and ranked worse (see docs/matching.md).
    """
    inside = np.flatnonzero(among)
    sub = Cohort([cohort.ids[i] for i in inside], cohort.genes[inside], cohort.publications[inside])
    local = {name: features[name][np.ix_(inside, inside)] for name in names}
    weights = np.full(len(names), 1.0 / len(names))

    def objective(candidate: npt.NDArray[np.float64]) -> float:
        return mean_reciprocal_rank(
            sub, weighted(local, dict(zip(names, candidate, strict=True))), True
        )

    best = objective(weights)
    for _ in range(rounds):
        improved = False
        for position in range(len(names)):
            for value in GRID:
                trial = _with_weight(weights, position, value)
                score = objective(trial)
                if score > best + 1e-9:
                    best, weights, improved = score, trial, True
        if not improved:
            break
    return {name: round(float(w), 4) for name, w in zip(names, weights, strict=True)}


def _with_weight(
    weights: npt.NDArray[np.float64], position: int, value: float
) -> npt.NDArray[np.float64]:
    rest = 1.0 - weights[position]
    others = len(weights) - 1
    if rest > 0:
        trial = weights * ((1.0 - value) / rest)
    else:
        trial = np.full(len(weights), (1.0 - value) / max(others, 1))
    trial[position] = value
    return trial


def gene_folds(cohort: Cohort, count: int = 5) -> npt.NDArray[np.int64]:
    """A fold per case such that all cases of a gene share one (no gene in two folds).

    Genes are dealt, largest first (ties by symbol), to the fold holding the
    fewest cases: deterministic and balanced, with no random seed to pick.
    """
    genes, sizes = np.unique(cohort.genes, return_counts=True)
    load = np.zeros(count, dtype=np.int64)
    fold_of: dict[str, int] = {}
    for position in sorted(range(len(genes)), key=lambda i: (-sizes[i], genes[i])):
        fold = int(np.argmin(load))
        fold_of[str(genes[position])] = fold
        load[fold] += sizes[position]
    return np.array([fold_of[str(g)] for g in cohort.genes], dtype=np.int64)


@dataclass(frozen=True)
class CrossValidation:
    """Held-out scores of every query, from weights learned without its gene."""

    folds: npt.NDArray[np.int64]
    weights: list[dict[str, float]]

    def scores(self, features: Mapping[str, Matrix]) -> Matrix:
        """Each query's row scored with the weights of the fold that held it out."""
        any_feature = next(iter(features.values()))
        result = np.zeros_like(any_feature)
        for fold, weights in enumerate(self.weights):
            rows = np.flatnonzero(self.folds == fold)
            result[rows] = weighted({n: f[rows] for n, f in features.items()}, weights)
        return result


def cross_validate(
    cohort: Cohort,
    features: Mapping[str, Matrix],
    names: Sequence[str],
    folds: int = 5,
    progress: Callable[[str], None] = print,
) -> CrossValidation:
    """Gene-grouped cross-validation of :func:`fit_convex_weights`."""
    assignment = gene_folds(cohort, folds)
    learned = []
    for fold in range(folds):
        weights = fit_convex_weights(cohort, features, names, assignment != fold)
        progress(f"fold {fold + 1}/{folds}: weights {weights}")
        learned.append(weights)
    return CrossValidation(assignment, learned)


def compute_features(
    release: Release,
    patients: Sequence[Patient],
    names: Iterable[str],
    with_query_negatives: bool = True,
) -> dict[str, Matrix]:
    """``features[name][q, c]`` for every pair of ``patients``, plus :data:`CONTRADICTIONS`.

    Computed by the matcher's own functions over an index of all patients.
    ``with_query_negatives=False`` scores each query as if it had no
    excluded terms (a clinician who records only what is present).
    """
    names = list(names)
    index = MatchIndex(release.ontology)
    for number, patient in enumerate(patients):
        index.add(PatientRecord(f"owner{number}", patient, release.version, "{}"))
    partition = index.real
    rows = [partition.observed.row(matrix_key((f"owner{n}", p.id))) for n, p in enumerate(patients)]
    if rows != list(range(len(patients))):
        raise RuntimeError("index rows are not in case order")
    size = len(patients)
    result = {name: np.zeros((size, size)) for name in [*names, CONTRADICTIONS]}
    ontology = release.ontology
    for q, patient in enumerate(patients):
        observed = [t for t in patient.observed_terms if t in ontology]
        excluded = [t for t in patient.excluded_terms if t in ontology]
        if not with_query_negatives:
            excluded = []
        if not observed:
            continue
        for name, values in phenotype_features(
            release, partition, observed, excluded, names
        ).items():
            result[name][q] = values
        conflicts = contradictions(release, partition, observed, excluded)
        if conflicts is not None:
            result[CONTRADICTIONS][q] = conflicts
    return result


def cached_features(
    cache_dir: Path,
    label: str,
    release: Release,
    patients: Sequence[Patient],
    names: Sequence[str],
    with_query_negatives: bool = True,
) -> dict[str, Matrix]:
    """:func:`compute_features`, kept in ``cache_dir`` under a key of everything it depends on."""
    fingerprint = json.dumps(
        {
            "version": CACHE_VERSION,
            "release": release.info.key,
            "ic": hashlib.sha256(release.information_content.values.tobytes()).hexdigest(),
            "names": sorted(names),
            "negatives": with_query_negatives,
            "patients": [[p.id, list(p.observed_terms), list(p.excluded_terms)] for p in patients],
        },
        sort_keys=True,
    )
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    path = cache_dir / f"{label}-{key}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    features = compute_features(release, patients, names, with_query_negatives)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **features)  # type: ignore[arg-type]
    partial.replace(path)
    return features
