"""The phenotype part of a score: how alike two patients' phenotypes are, in [0, 1].

Two scorers, chosen by the ``phenotype_model`` setting:

* a :class:`PhenotypeModel` (the default, ``picture-v1``): a weighted mean of
  similarity *features*, each in [0, 1], with non-negative weights learned
  offline (``bench/train_phenotype_model.py``) and shipped as a small
  versioned JSON file in ``mme_node/matching/models/``. Its features compare
  *clinical pictures*: a patient's observed and excluded terms together.
  Clinicians and curators record as excluded the features they looked for,
  typically those of the disease they had in mind (pertinent negatives), so
  two patients examined for the same features are evidence of the same
  disease whether each feature was present or absent. A contradiction is
  therefore not penalised; explanations still list it.
* :class:`BlendScorer` (``blend``, the default before the learned model): the
  normalised semantic similarity of the observed terms blended with their
  exact-term overlap, ``(1 - exact_terms) * semantic + exact_terms *
  overlap``, times ``exclusion_penalty`` once for every contradiction (a query
  term the candidate excludes, or excludes an ancestor of, and the converse).

Features are computed for every row of a partition at once (see
:meth:`hpo.SimilarityEngine.score_profiles_by`); nothing loops over patients.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from hpo import Method, ProfileMatrix, Release
from hpo.profiles import Rows
from mme_node.errors import MMEError
from mme_node.matching.index import Partition

Scores = npt.NDArray[np.float64]

BLEND = "blend"
"""The ``phenotype_model`` setting that selects :class:`BlendScorer`."""

DEFAULT_MODEL = "picture-v1"
"""The bundled model used unless the ``phenotype_model`` setting names another."""

MODEL_FORMAT = 1
"""The layout of a model file this code reads (its ``format`` key)."""


class Profile(StrEnum):
    """Which of a patient's terms a feature compares."""

    OBSERVED = "observed"
    PICTURE = "picture"
    """Observed and excluded terms together, signs ignored."""


class Measure(StrEnum):
    """How a feature compares two profiles (each in [0, 1], 1 for identical profiles)."""

    RESNIK = "resnik"
    """Best-match average of Resnik similarity, normalised (see :mod:`hpo.similarity`)."""
    SIMGIC = "simgic"
    """IC-weighted Jaccard of the ancestor closures."""
    OVERLAP = "overlap"
    """Jaccard index of the exact terms."""


@dataclass(frozen=True, slots=True)
class Feature:
    profile: Profile
    measure: Measure

    @property
    def name(self) -> str:
        return f"{self.profile}_{self.measure}"


FEATURES = {f.name: f for f in (Feature(p, m) for p in Profile for m in Measure)}
"""Every feature a model may weigh, by name (``picture_resnik``, ``observed_overlap``...)."""


class PhenotypeScorer(Protocol):
    """Scores the phenotype of every row of a partition against a query's terms."""

    @property
    def tag(self) -> str:
        """What the node reports as its phenotype model (``picture-v1``, ``blend``)."""
        ...

    @property
    def compares_pictures(self) -> bool:
        """Whether excluded terms count as evidence (explanations then show them)."""
        ...

    def warm(self, release: Release, partition: Partition) -> None:
        """Compute the per-patient values scoring caches, so that no query waits for them."""
        ...

    def score(
        self,
        release: Release,
        partition: Partition,
        observed: list[str],
        excluded: list[str],
        rows: Rows | None = None,
    ) -> Scores:
        """One score in [0, 1] per row of ``partition.observed`` (per row of ``rows`` if given).

        ``observed`` is not empty. A row's score is the same whichever rows are scored.
        """
        ...


def phenotype_features(
    release: Release,
    partition: Partition,
    observed: list[str],
    excluded: list[str],
    names: Iterable[str],
    rows: Rows | None = None,
) -> dict[str, Scores]:
    """The named features (see :data:`FEATURES`) of every row (of ``rows``), each in [0, 1].

    Rows are those of ``partition.observed`` (the picture matrix is row-aligned
    with it). Features of one profile share their passes over the matrix.
    """
    wanted = [FEATURES[name] for name in names]
    picture = list(dict.fromkeys([*observed, *excluded]))
    features: dict[str, Scores] = {}
    for profile in Profile:
        measures = {f.measure for f in wanted if f.profile is profile}
        if not measures:
            continue
        terms, matrix = (
            (observed, partition.observed)
            if profile is Profile.OBSERVED
            else (picture, _aligned_picture(partition))
        )
        methods = [Method(m.value) for m in measures if m is not Measure.OVERLAP]
        semantic = release.similarity.score_profiles_by(
            terms, matrix, methods, normalized=True, rows=rows
        )
        for method, values in semantic.items():
            features[Feature(profile, Measure(method.value)).name] = values
        if Measure.OVERLAP in measures:
            features[Feature(profile, Measure.OVERLAP).name] = release.similarity.term_overlap(
                terms, matrix, rows
            )
    return features


def _aligned_picture(partition: Partition) -> ProfileMatrix:
    picture = partition.picture
    if picture.rows != partition.observed.rows:
        raise RuntimeError("picture and observed matrices are out of step")
    return picture


@dataclass(frozen=True)
class PhenotypeModel:
    """A learned weighted mean of features, as read from a model file.

    ``weights`` are non-negative and sum to 1 (a file's weights are scaled to
    that on loading), so the score lies in [0, 1] and is 1 when every feature
    is 1 (identical pictures). ``training`` is the file's record of how the
    weights were obtained, kept for display.
    """

    name: str
    version: int
    weights: Mapping[str, float]
    description: str = ""
    training: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"{self.name}-v{self.version}"

    @property
    def compares_pictures(self) -> bool:
        return any(FEATURES[name].profile is Profile.PICTURE for name in self.weights)

    @classmethod
    def from_json(cls, document: Mapping[str, Any], source: str) -> PhenotypeModel:
        """A model from a parsed model file; :class:`MMEError` naming ``source`` if invalid."""
        if document.get("format") != MODEL_FORMAT:
            raise MMEError(f"phenotype model {source}: format must be {MODEL_FORMAT}")
        name, version = document.get("name"), document.get("version")
        if not isinstance(name, str) or not name or not isinstance(version, int):
            raise MMEError(f"phenotype model {source}: needs a name and an integer version")
        raw = document.get("features")
        if not isinstance(raw, dict) or not raw:
            raise MMEError(f"phenotype model {source}: features must map names to weights")
        unknown = sorted(set(raw) - set(FEATURES))
        if unknown:
            known = ", ".join(sorted(FEATURES))
            raise MMEError(
                f"phenotype model {source}: unknown features {', '.join(unknown)} (known: {known})"
            )
        if not all(isinstance(w, int | float) and w >= 0 for w in raw.values()):
            raise MMEError(f"phenotype model {source}: weights must be non-negative numbers")
        total = float(sum(raw.values()))
        if total <= 0:
            raise MMEError(f"phenotype model {source}: at least one weight must be positive")
        return cls(
            name=name,
            version=version,
            weights={feature: float(w) / total for feature, w in raw.items() if w > 0},
            description=str(document.get("description", "")),
            training=dict(document.get("training", {})),
        )

    @classmethod
    def load(cls, path: Path) -> PhenotypeModel:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise MMEError(f"phenotype model {path} cannot be read: {error}") from None
        if not isinstance(document, dict):
            raise MMEError(f"phenotype model {path}: not a JSON object")
        return cls.from_json(document, str(path))

    def score(
        self,
        release: Release,
        partition: Partition,
        observed: list[str],
        excluded: list[str],
        rows: Rows | None = None,
    ) -> Scores:
        features = phenotype_features(release, partition, observed, excluded, self.weights, rows)
        return self.combine(features)

    def warm(self, release: Release, partition: Partition) -> None:
        for profile in Profile:
            methods = [
                Method(FEATURES[name].measure.value)
                for name in self.weights
                if FEATURES[name].profile is profile
                and FEATURES[name].measure is not Measure.OVERLAP
            ]
            matrix = partition.observed if profile is Profile.OBSERVED else partition.picture
            release.similarity.warm(matrix, methods)

    def combine(self, features: Mapping[str, Scores]) -> Scores:
        """The weighted mean of ``features`` (which must hold every weighted feature)."""
        total = sum(weight * features[name] for name, weight in self.weights.items())
        return np.clip(np.asarray(total, dtype=np.float64), 0.0, 1.0)


def bundled_models() -> dict[str, Path]:
    """The model files shipped in the package, by tag (``picture-v1``)."""
    folder = resources.files("mme_node.matching") / "models"
    return {
        entry.name.removesuffix(".json"): Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


def load_model(setting: str) -> PhenotypeModel:
    """The model a ``phenotype_model`` setting names: a bundled tag or a JSON file path."""
    bundled = bundled_models()
    if setting in bundled:
        return PhenotypeModel.load(bundled[setting])
    path = Path(setting)
    if path.suffix == ".json" and path.is_file():
        return PhenotypeModel.load(path)
    choices = ", ".join([BLEND, *sorted(bundled)])
    raise MMEError(f"setting phenotype_model must be one of {choices}, or the path of a model file")


@dataclass(frozen=True)
class BlendScorer:
    """The scorer of earlier releases (see the module docstring)."""

    method: Method = Method.RESNIK
    exact_terms: float = 0.5
    exclusion_penalty: float = 0.99

    @property
    def tag(self) -> str:
        return BLEND

    @property
    def compares_pictures(self) -> bool:
        return False

    def warm(self, release: Release, partition: Partition) -> None:
        release.similarity.warm(partition.observed, [self.method])

    def score(
        self,
        release: Release,
        partition: Partition,
        observed: list[str],
        excluded: list[str],
        rows: Rows | None = None,
    ) -> Scores:
        matrix = partition.observed
        similarity = release.similarity
        phenotype = similarity.score_profiles(observed, matrix, self.method, True, rows)
        if self.exact_terms > 0:
            overlap = similarity.term_overlap(observed, matrix, rows)
            phenotype = (1 - self.exact_terms) * phenotype + self.exact_terms * overlap
        if self.exclusion_penalty < 1:
            conflicts = contradictions(release, partition, observed, excluded, rows)
            if conflicts is not None:
                phenotype *= np.power(self.exclusion_penalty, conflicts)
        return phenotype


def contradictions(
    release: Release,
    partition: Partition,
    observed: list[str],
    excluded: list[str],
    rows: Rows | None = None,
) -> npt.NDArray[np.int64] | None:
    """Per row of ``partition.observed`` (of ``rows`` if given): contradicted terms, both ways.

    A candidate's observed term the query excludes (or excludes an ancestor
    of), and a query term the candidate excludes (or whose ancestor it
    excludes), each query term counted once. None when nothing can
    contradict the query (it excludes no term and no candidate excludes
    any), which spares a pass over every row.
    """
    if not excluded and not partition.any_excluded:
        return None
    ontology = release.ontology
    matrix = partition.observed
    conflicts = np.zeros(matrix.rows if rows is None else len(rows), dtype=np.int64)
    if excluded:
        excluded_below = _term_mask(len(ontology), (ontology.descendants(t) for t in excluded))
        conflicts += matrix.count_in_rows(excluded_below, rows)
    if partition.any_excluded:
        conflicts += partition.excluding(
            (_term_mask(len(ontology), [ontology.ancestors(term)]) for term in observed), rows
        )
    return conflicts


def _term_mask(terms: int, rows: Iterable[npt.NDArray[np.int32]]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(terms, dtype=bool)
    for row in rows:
        mask[row] = True
    return mask
