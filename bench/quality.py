"""Matching quality on published cases: does a case find the others with its gene?

Data: ``../shared/cases/dev.jsonl`` (phenopacket-store cases, diagnosed gene
known) and ``../shared/mme/benchmark_patients.json`` (the 50 MME benchmark
patients). Every case whose gene occurs in another candidate is a query; all
other cases of its data set are ranked; the rank of the first case with the
same gene gives MRR, hit@1 and hit@10. Reported phenotype only (genes hidden)
and with genes, over all candidates and cross-publication (candidates from the
query's own publication removed). Raw-term Jaccard and ancestor-closure
Jaccard baselines come from the same run.

    python bench/quality.py                      # the default scorer and baselines
    python bench/quality.py --compare            # methods x exact-term share x penalty
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hpo import HPOError, Method, Release, ReleaseLibrary
from mme_node.formats.schemas import load_patient
from mme_node.matching.matcher import Matcher
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.model import Contact, Feature, Gene, GenomicFeature, Patient, PatientRecord
from mme_node.stores.sqlite import SQLitePatientStore
from mme_node.vocabulary.genes import bundled_gene_index
from mme_node.vocabulary.normalise import normalise_patient

SHARED = Path(__file__).resolve().parents[2] / "shared"
OWNER = "bench"


@dataclass(frozen=True)
class Case:
    patient: Patient
    gene: str
    publication: str


@dataclass(frozen=True)
class Figures:
    queries: int
    mrr: float
    hit1: float
    hit10: float

    def row(self, name: str) -> str:
        return f"| {name} | {self.queries} | {self.mrr:.3f} | {self.hit1:.3f} | {self.hit10:.3f} |"


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
        cases.append(Case(patient, gene.hgnc_id or row["gene"], publication))
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


def rank_of_first_hit(
    query: Case, ranked: Sequence[str], by_id: dict[str, Case], cross_publication: bool
) -> int | None:
    """1-based rank of the first same-gene candidate, among the candidates that count."""
    position = 0
    for candidate_id in ranked:
        candidate = by_id[candidate_id]
        if cross_publication and candidate.publication == query.publication:
            continue
        position += 1
        if candidate.gene == query.gene:
            return position
    return None


def evaluate(
    cases: list[Case], ranker: Callable[[Case], list[str]], cross_publication: bool
) -> Figures:
    by_id = {case.patient.id: case for case in cases}
    reciprocal: list[float] = []
    hits1 = hits10 = 0
    for query in cases:
        others = [
            c
            for c in cases
            if c is not query
            and c.gene == query.gene
            and not (cross_publication and c.publication == query.publication)
        ]
        if not others:
            continue
        rank = rank_of_first_hit(query, ranker(query), by_id, cross_publication)
        reciprocal.append(1 / rank if rank else 0.0)
        hits1 += rank == 1
        hits10 += rank is not None and rank <= 10
    count = len(reciprocal)
    if count == 0:
        return Figures(0, float("nan"), float("nan"), float("nan"))
    return Figures(count, sum(reciprocal) / count, hits1 / count, hits10 / count)


def matcher_ranker(
    release: Release, cases: list[Case], weights: ScoringWeights
) -> Callable[[Case], list[str]]:
    store = SQLitePatientStore(Path(tempfile.mkdtemp()) / "unused.sqlite3")
    matcher = Matcher(Serving.of(release), store, weights)
    for case in cases:
        matcher.index.add(PatientRecord(OWNER, case.patient, release.version, "{}"))

    def rank(query: Case) -> list[str]:
        ranked = matcher.rank(query.patient, len(cases), 0.0, (OWNER, query.patient.id))
        return [candidate.key[1] for candidate in ranked]

    return rank


def jaccard_ranker(
    cases: list[Case], terms_of: Callable[[Patient], set[str]]
) -> Callable[[Case], list[str]]:
    profiles = [(case.patient.id, terms_of(case.patient)) for case in cases]

    def rank(query: Case) -> list[str]:
        mine = terms_of(query.patient)
        scored = []
        for patient_id, theirs in profiles:
            if patient_id == query.patient.id:
                continue
            union = len(mine | theirs)
            score = len(mine & theirs) / union if union else 0.0
            if score > 0:
                scored.append((-score, patient_id))
        return [patient_id for _, patient_id in sorted(scored)]

    return rank


def observed_terms(patient: Patient) -> set[str]:
    return set(patient.observed_terms)


def closure_terms(release: Release) -> Callable[[Patient], set[str]]:
    ontology = release.ontology

    def terms(patient: Patient) -> set[str]:
        return {
            ontology.term_id(int(i)) for t in patient.observed_terms for i in ontology.ancestors(t)
        }

    return terms


def report(title: str, rows: list[tuple[str, Figures]]) -> None:
    print(f"\n### {title}\n")
    print("| ranking | queries | MRR | hit@1 | hit@10 |")
    print("|---|---|---|---|---|")
    for name, figures in rows:
        print(figures.row(name))
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--hpo-dir", type=Path, default=Path("data/hpo"), help="compiled HPO releases"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="methods x exact-term share x exclusion penalty (phenotype only)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    release = ReleaseLibrary(args.hpo_dir).active()
    dev, unknown = load_dev_cases(release, SHARED / "cases" / "dev.jsonl")
    mme = load_mme_cases(release, SHARED / "mme" / "benchmark_patients.json")
    print(f"HPO {release.version}; {len(dev)} published cases, {len(mme)} MME benchmark patients")
    print(
        f"HPO ids unknown to this release in the published cases: {len(unknown)} distinct, "
        f"{sum(unknown.values())} occurrences (dropped)"
    )
    default = ScoringWeights()
    default_name = (
        f"mme-node default ({default.method}, exact terms {default.exact_terms}, "
        f"penalty {default.exclusion_penalty})"
    )
    configurations = [(default_name, default)]
    if args.compare:
        configurations = [
            (
                f"{method.value}, exact terms {share}, penalty {penalty}",
                ScoringWeights(method=method, exact_terms=share, exclusion_penalty=penalty),
            )
            for method in Method
            for share in (0.0, 0.5)
            for penalty in (1.0, 0.99, 0.9)
        ]
    for data_name, cases in (("published cases (dev.jsonl)", dev), ("MME benchmark patients", mme)):
        hidden = [hide_genes(case) for case in cases]
        for cross in (False, True):
            scope = "cross-publication" if cross else "all candidates"
            rows = [
                (
                    "raw-term Jaccard",
                    evaluate(hidden, jaccard_ranker(hidden, observed_terms), cross),
                ),
                (
                    "ancestor-closure Jaccard",
                    evaluate(hidden, jaccard_ranker(hidden, closure_terms(release)), cross),
                ),
            ]
            for name, weights in configurations:
                rows.append(
                    (name, evaluate(hidden, matcher_ranker(release, hidden, weights), cross))
                )
            report(f"{data_name}, phenotype only, {scope}", rows)
            if not args.compare:
                with_genes = evaluate(cases, matcher_ranker(release, cases, default), cross)
                report(f"{data_name}, with genes, {scope}", [(default_name, with_genes)])
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
