"""The Human Phenotype Ontology engine: ontology, information content, similarity.

A pure library (pronto and numpy only): it knows terms, releases and
profiles, nothing of patients, HTTP or storage. The usual entry point::

    library = ReleaseLibrary(hpo_dir)
    release = library.active()             # bundled HPO 2025-01-16 until another is loaded
    term = release.ontology.resolve("HP:0004715")
    matrix = ProfileMatrix(release.ontology)
    matrix.add("patient-1", ["HP:0001250", "HP:0004322"])
    scores = release.similarity.score_profiles(["HP:0001250"], matrix, "resnik", normalized=True)
"""

from hpo.annotations import DiseaseAnnotations, read_annotations
from hpo.errors import HPOError, ObsoleteTermError, ReleaseError, UnknownTermError
from hpo.information import ICSource, InformationContent, annotation_ic, structural_ic
from hpo.ontology import ROOT, ObsoleteTerm, Ontology, normalize_id, read_ontology
from hpo.profiles import ProfileMatrix
from hpo.release import BUNDLED_FILES, Progress, Release, ReleaseInfo, ReleaseLibrary
from hpo.search import MatchKind, TermIndex, TermMatch
from hpo.similarity import (
    BestMatch,
    Method,
    ProfileScores,
    ProfileSimilarity,
    SimilarityEngine,
)

__all__ = [
    "BestMatch",
    "BUNDLED_FILES",
    "ROOT",
    "DiseaseAnnotations",
    "HPOError",
    "ICSource",
    "InformationContent",
    "MatchKind",
    "Method",
    "ObsoleteTerm",
    "ObsoleteTermError",
    "Ontology",
    "ProfileMatrix",
    "ProfileScores",
    "ProfileSimilarity",
    "Progress",
    "Release",
    "ReleaseError",
    "ReleaseInfo",
    "ReleaseLibrary",
    "SimilarityEngine",
    "TermIndex",
    "TermMatch",
    "UnknownTermError",
    "annotation_ic",
    "normalize_id",
    "read_annotations",
    "read_ontology",
    "structural_ic",
]
