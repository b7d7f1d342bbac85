"""Matching quality on published cases: does a case find the others with its gene?

Data: ``../shared/cases/dev.jsonl`` (phenopacket-store cases, diagnosed gene
known) and ``../shared/mme/benchmark_patients.json`` (the 50 MME benchmark
patients). Every case whose gene occurs in another candidate is a query; all
other cases of its data set are ranked; the rank of the first case with the
same gene gives MRR, hit@1 and hit@10. Phenotype only (genes hidden) unless
said, over all candidates and cross-publication (candidates from the query's
own publication removed: the figure that matters).

One run reports side by side: the baselines (raw-term Jaccard, ancestor
Jaccard, simGIC, normalised Resnik BMA), the previous default (``blend``) and
the learned model (``picture-v1``): its shipped weights (learned on all of
dev.jsonl: an in-sample figure) next to gene-grouped cross-validation (weights
learned without the query's gene: the honest figure), for queries without
their excluded terms, and with an information content computed without any
disease of a dev gene (every gene "new" to the annotations). Then, with
genes, the node's default through ``Matcher.rank`` (hit@1 must be 1.0), and a
check that ``Matcher.rank`` ranks exactly as the feature matrices say.

    python bench/quality.py [--hpo-dir data/hpo] [--cache data/quality-cache]

Feature matrices are cached (keyed by release, IC and cases): a first run
takes several minutes of CPU, later ones about a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from phenotype_learning import (
    CONTRADICTIONS,
    Cohort,
    Figures,
    Matrix,
    cached_features,
    cross_validate,
    figures,
    weighted,
)

from hpo import (
    BUNDLED_FILES,
    HPOError,
    ProfileMatrix,
    Release,
    ReleaseLibrary,
    annotation_ic,
    read_annotations,
)
from mme_node.formats.schemas import load_patient
from mme_node.matching.matcher import Matcher
from mme_node.matching.phenotype import BLEND, DEFAULT_MODEL, PhenotypeModel, load_model
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.model import Contact, Feature, Gene, GenomicFeature, Patient, PatientRecord
from mme_node.stores.sqlite import SQLitePatientStore
from mme_node.vocabulary.genes import bundled_gene_index
from mme_node.vocabulary.normalise import normalise_patient

SHARED = Path(__file__).resolve().parents[2] / "shared"
OWNER = "bench"
BASELINE_FEATURES = ("observed_overlap", "observed_simgic", "observed_resnik")
"""Also the picture model's features over observed terms only (when nobody records negatives)."""
BLEND_DEFAULT = ScoringWeights(phenotype_model=BLEND)


@dataclass(frozen=True)
class Case:
    patient: Patient
    gene: str
    publication: str
    disease: str = ""
    gene_symbol: str = ""


def load_dev_cases(release: Release, path: Path) -> tuple[list[Case], Counter[str]]:
    """The published cases as patients; unknown HPO ids are counted and dropped."""
    genes = bundled_gene_index()
    unknown: Counter[str] = Counter()
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        features = [Feature(t) for t in _known(release, row["features"], unknown)]
        features += [Feature(t, observed=False) for t in _known(release, row["excluded"], unknown)]
        resolved = genes.resolve(row["gene"])
        gene = Gene(
            id=row["gene"],
            hgnc_id=resolved.hgnc_id if resolved else None,
            symbol=resolved.symbol if resolved else None,
        )
        patient = Patient(
            id=row["id"],
            contact=Contact(name="bench", href="mailto:bench@example.org"),
            features=tuple(dict.fromkeys(features)),
            genomic_features=(GenomicFeature(gene=gene),),
        )
        publication = "_".join(row["id"].split("_")[:2])
        cases.append(
            Case(patient, gene.hgnc_id or row["gene"], publication, row["disease"], row["gene"])
        )
    return cases, unknown


def _known(release: Release, terms: Iterable[str], unknown: Counter[str]) -> list[str]:
    known = []
    for term in terms:
        try:
            known.append(release.ontology.resolve(term))
        except HPOError:
            unknown[term] += 1
    return known


def load_mme_cases(release: Release, path: Path) -> list[Case]:
    """The MME benchmark patients; the publication is the contact link (a PubMed page)."""
    genes = bundled_gene_index()
    cases = []
    for raw in json.loads(path.read_text(encoding="utf-8")):
        patient, _ = load_patient(raw)
        patient, _ = normalise_patient(patient, release.ontology, genes)
        patient = patient.replace(test=False)
        cases.append(Case(patient, patient.gene_ids[0], patient.contact.href))
    return cases


def hide_genes(case: Case) -> Case:
    return dataclasses.replace(case, patient=case.patient.replace(genomic_features=()))


def cohort_of(cases: list[Case]) -> Cohort:
    return Cohort(
        [c.patient.id for c in cases],
        np.array([c.gene for c in cases]),
        np.array([c.publication for c in cases]),
    )


def closure_jaccard(release: Release, patients: list[Patient]) -> Matrix:
    """Jaccard index of the observed terms' ancestor closures, every pair."""
    ontology = release.ontology

    def closure(patient: Patient) -> list[str]:
        indices = {int(i) for t in patient.observed_terms for i in ontology.ancestors(t)}
        return [ontology.term_id(i) for i in sorted(indices)]

    closures = [closure(p) for p in patients]
    matrix = ProfileMatrix.build(ontology, ((str(n), c) for n, c in enumerate(closures)))
    return np.stack([release.similarity.term_overlap(c, matrix) for c in closures])


def blend_scores(features: dict[str, Matrix]) -> Matrix:
    """The previous default from the features: the formula of ``BlendScorer``."""
    share, penalty = BLEND_DEFAULT.exact_terms, BLEND_DEFAULT.exclusion_penalty
    blended = (1 - share) * features["observed_resnik"] + share * features["observed_overlap"]
    return blended * np.power(penalty, features[CONTRADICTIONS])


def matcher_scores(release: Release, cases: list[Case], weights: ScoringWeights) -> Matrix:
    """``scores[q, c]`` as ``Matcher.rank`` returns them (0 where it does not return ``c``)."""
    store = SQLitePatientStore(Path(tempfile.mkdtemp()) / "unused.sqlite3")
    matcher = Matcher(Serving.of(release), store, weights)
    for case in cases:
        matcher.index.add(PatientRecord(OWNER, case.patient, release.version, "{}"))
    position = {case.patient.id: n for n, case in enumerate(cases)}
    scores = np.zeros((len(cases), len(cases)))
    for q, case in enumerate(cases):
        for candidate in matcher.rank(case.patient, len(cases), 0.0, (OWNER, case.patient.id)):
            scores[q, position[candidate.key[1]]] = candidate.score
    return scores


def new_gene_release(release: Release, cases: list[Case]) -> tuple[Release, int]:
    """``release`` with an IC computed without any disease of a gene of ``cases``.

    A disease is a gene's if ``genes_to_phenotype.txt`` links them or a case of
    that gene was diagnosed with it. Returns the release and how many
    diseases were left out.
    """
    symbols = {case.gene_symbol for case in cases}
    diseases = {case.disease for case in cases}
    with gzip.open(SHARED / "hpo" / "genes_to_phenotype.txt.gz", "rt", encoding="utf-8") as rows:
        for row in rows:
            fields = row.rstrip("\n").split("\t")
            if len(fields) > 5 and fields[1] in symbols:
                diseases.add(fields[5])
    annotations = read_annotations(
        BUNDLED_FILES[1], release.ontology, without_diseases=frozenset(diseases)
    )
    return Release(release.info, release.ontology, annotation_ic(annotations)), len(diseases)


class Table:
    """Rows of figures, printed as one markdown table: cross-publication first."""

    def __init__(self, title: str, cohort: Cohort) -> None:
        self.title = title
        self.cohort = cohort
        self.rows: list[tuple[str, str, Figures, Figures]] = []

    def add(self, name: str, how: str, scores: Matrix) -> Figures:
        cross = figures(self.cohort, scores, True)
        self.rows.append((name, how, cross, figures(self.cohort, scores, False)))
        return cross

    def print(self) -> None:
        print(f"\n### {self.title}\n")
        print(
            "| ranking | weights | x-pub queries | x-pub MRR | x-pub hit@1 | x-pub hit@10 "
            "| all queries | all MRR | all hit@1 |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, how, cross, every in self.rows:
            print(
                f"| {name} | {how} | {cross.queries} | {cross.mrr:.3f} | {cross.hit1:.3f} "
                f"| {cross.hit10:.3f} | {every.queries} | {every.mrr:.3f} | {every.hit1:.3f} |"
            )
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hpo-dir", type=Path, default=Path("data/hpo"))
    parser.add_argument("--cache", type=Path, default=Path("data/quality-cache"))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    release = ReleaseLibrary(args.hpo_dir).active()
    model = load_model(DEFAULT_MODEL)
    dev, unknown = load_dev_cases(release, SHARED / "cases" / "dev.jsonl")
    mme = load_mme_cases(release, SHARED / "mme" / "benchmark_patients.json")
    print(f"HPO {release.version}; {len(dev)} published cases, {len(mme)} MME benchmark patients")
    print(
        f"HPO ids unknown to this release in the published cases: {len(unknown)} distinct, "
        f"{sum(unknown.values())} occurrences (dropped)"
    )
    print(
        f"model {model.tag}: weights {dict(model.weights)}; load average {os.getloadavg()[0]:.1f}"
    )
    names = sorted({*BASELINE_FEATURES, *model.weights})

    hidden = [hide_genes(case) for case in dev]
    patients = [case.patient for case in hidden]
    cohort = cohort_of(dev)
    features = cached_features(args.cache, "dev", release, patients, names)
    print(f"features ready ({time.perf_counter() - started:.0f} s)")
    validation = cross_validate(cohort, features, list(model.weights), args.folds)

    table = Table("published cases (dev.jsonl), phenotype only", cohort)
    table.add("raw-term Jaccard", "none", features["observed_overlap"])
    table.add("ancestor-closure Jaccard", "none", closure_jaccard(release, patients))
    table.add("simGIC", "none", features["observed_simgic"])
    table.add("Resnik BMA (normalised)", "none", features["observed_resnik"])
    table.add("previous default (blend)", "chosen on dev", blend_scores(features))
    shipped = table.add(
        model.tag, "learned on all dev (in-sample)", weighted(features, model.weights)
    )
    table.add(model.tag, f"gene-grouped {args.folds}-fold CV", validation.scores(features))

    stripped = cached_features(args.cache, "dev-no-negatives", release, patients, names, False)
    table.add(
        "previous default, queries without negatives", "chosen on dev", blend_scores(stripped)
    )
    table.add(
        f"{model.tag}, queries without negatives",
        f"gene-grouped {args.folds}-fold CV",
        validation.scores(stripped),
    )
    observed_only = {
        name: stripped[name.replace("picture_", "observed_")] for name in model.weights
    }
    table.add(
        f"{model.tag}, neither side with negatives (observed terms)",
        "learned on all dev (in-sample)",
        weighted(observed_only, model.weights),
    )
    new_gene, left_out = new_gene_release(release, dev)
    unseen = cached_features(args.cache, "dev-new-gene-ic", new_gene, patients, names)
    table.add(
        f"previous default, IC without {left_out} dev-gene diseases",
        "chosen on dev",
        blend_scores(unseen),
    )
    table.add(
        f"{model.tag}, IC without {left_out} dev-gene diseases",
        f"gene-grouped {args.folds}-fold CV",
        validation.scores(unseen),
    )
    through_matcher = table.add(
        f"{model.tag} through Matcher.rank (check)",
        "learned on all dev (in-sample)",
        matcher_scores(release, hidden, ScoringWeights()),
    )
    table.print()
    if abs(through_matcher.mrr - shipped.mrr) > 1e-9:
        print(f"\nWARNING: Matcher.rank ({through_matcher.mrr}) differs from the features")

    with_genes = Table(
        "published cases, with genes: the node's default through Matcher.rank", cohort
    )
    with_genes.add(model.tag, "shipped", matcher_scores(release, dev, ScoringWeights()))
    with_genes.add("previous default (blend)", "-", matcher_scores(release, dev, BLEND_DEFAULT))
    with_genes.print()

    report_mme(release, mme, model)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


def report_mme(release: Release, cases: list[Case], model: PhenotypeModel) -> None:
    """The MME benchmark patients: held out from the training entirely (none is in dev)."""
    hidden = [hide_genes(case) for case in cases]
    patients = [case.patient for case in hidden]
    names = sorted({*BASELINE_FEATURES, *model.weights})
    with tempfile.TemporaryDirectory() as scratch:
        features = cached_features(Path(scratch), "mme", release, patients, names)
    table = Table("MME benchmark patients (none in the training data)", cohort_of(cases))
    table.add("raw-term Jaccard", "none", features["observed_overlap"])
    table.add("ancestor-closure Jaccard", "none", closure_jaccard(release, patients))
    table.add("simGIC", "none", features["observed_simgic"])
    table.add("Resnik BMA (normalised)", "none", features["observed_resnik"])
    table.add("previous default (blend)", "chosen on dev", blend_scores(features))
    table.add(model.tag, "learned on dev", weighted(features, model.weights))
    table.add(
        f"{model.tag}, with genes", "shipped", matcher_scores(release, cases, ScoringWeights())
    )
    table.print()


if __name__ == "__main__":
    main()
