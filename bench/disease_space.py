"""Does disease knowledge help phenotype matching, measured honestly? (It did not.)

    python bench/disease_space.py [--tau 0.1]

Each patient is represented by its fit to every disease of ``phenotype.hpoa``
(normalised Resnik, patient to disease: the mean over the patient's observed
terms of the best match among the disease's), sharpened as
``exp((fit - 1) / tau)``; two patients are compared by the cosine of those
vectors. Three evaluations of that disease-space similarity:

* *circular*: the annotations as they are. About half of the published cases
  come from papers that ``phenotype.hpoa`` cites, so a case partly finds its
  own publication's annotations;
* *honest*: for each query, the annotation rows whose reference is the
  query's own publication are removed (for the query and every candidate);
* *new gene*: honest, and every disease of the query's gene removed too
  (``genes_to_phenotype.txt`` and the case's diagnosis), the main MME case.

Then the honest similarity is added as a fourth feature beside the shipped
model's features, in the same gene-grouped cross-validation as
``bench/quality.py``, and the learned weights are evaluated on the honest and
new-gene similarities. Prints the figures (cross-publication MRR).
"""

from __future__ import annotations

import argparse
import gzip
import lzma
from collections import defaultdict
from pathlib import Path

import numpy as np
from phenotype_learning import Cohort, Matrix, cached_features, cross_validate, figures
from quality import SHARED, Case, cohort_of, hide_genes, load_dev_cases

from hpo import BUNDLED_FILES, HPOError, ProfileMatrix, Release, ReleaseLibrary
from mme_node.matching.phenotype import DEFAULT_MODEL, load_model

FEATURE = "disease_space"


def disease_rows(release: Release) -> dict[str, list[tuple[str, frozenset[str]]]]:
    """Per disease, its phenotype annotations (not ``NOT``) as ``(term, references)``."""
    ontology = release.ontology
    resolved: dict[str, str | None] = {}
    rows: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    with lzma.open(BUNDLED_FILES[1], "rt", encoding="utf-8") as lines:
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if line.startswith("#") or len(fields) < 11 or fields[0] == "database_id":
                continue
            if fields[2] == "NOT" or fields[10] != "P":
                continue
            if fields[3] not in resolved:
                try:
                    resolved[fields[3]] = ontology.resolve(fields[3])
                except HPOError:
                    resolved[fields[3]] = None
            term = resolved[fields[3]]
            if term is not None:
                references = frozenset(r.strip() for r in fields[4].split(";"))
                rows[fields[0]].append((term, references))
    return rows


def fits(release: Release, profiles: list[list[str]], diseases: ProfileMatrix) -> Matrix:
    """``fit[p, d]``: mean over patient ``p``'s terms of their best Resnik match in ``d``."""
    ic = release.similarity.ic
    ontology = release.ontology
    result = np.zeros((len(profiles), diseases.rows))
    for row, terms in enumerate(profiles):
        if terms:
            forward = release.similarity.profile_scores(terms, diseases, "resnik").forward
            result[row] = forward / ic[ontology.indices_of(terms)].mean()
    return result


def column_fits(release: Release, profiles: list[list[str]], disease_terms: list[str]) -> Matrix:
    """The fit of every patient to one disease profile (the backward direction, normalised)."""
    ic = release.similarity.ic
    ontology = release.ontology
    patients = ProfileMatrix.build(ontology, ((str(n), t) for n, t in enumerate(profiles)))
    if not disease_terms:
        return np.zeros(len(profiles))
    backward = release.similarity.profile_scores(disease_terms, patients, "resnik").backward
    means = np.array([ic[ontology.indices_of(t)].mean() if t else 1.0 for t in profiles])
    return np.asarray(backward / means)


def gene_diseases(cases: list[Case]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for case in cases:
        found[case.gene_symbol].add(case.disease)
    with gzip.open(SHARED / "hpo" / "genes_to_phenotype.txt.gz", "rt", encoding="utf-8") as rows:
        for row in rows:
            fields = row.rstrip("\n").split("\t")
            if len(fields) > 5:
                found[fields[1]].add(fields[5])
    return found


def disease_space(release: Release, cases: list[Case], tau: float) -> dict[str, Matrix]:
    """The similarity of every pair in disease space: circular, honest and new-gene."""
    profiles = [[t for t in c.patient.observed_terms if t in release.ontology] for c in cases]
    rows = disease_rows(release)
    names = sorted(rows)
    column = {name: n for n, name in enumerate(names)}
    diseases = ProfileMatrix.build(
        release.ontology, ((d, sorted({t for t, _ in rows[d]})) for d in names)
    )
    sharpened = np.exp((fits(release, profiles, diseases) - 1) / tau)
    gram = sharpened @ sharpened.T
    norms = np.einsum("ij,ij->i", sharpened, sharpened)
    result = {"circular": gram / np.sqrt(np.outer(norms, norms))}
    publications = ["PMID:" + c.patient.id.split("_")[1] for c in cases]
    cited: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    for name in names:
        for publication in set().union(*(refs for _, refs in rows[name])) & set(publications):
            kept = sorted({t for t, refs in rows[name] if publication not in refs})
            values = column_fits(release, profiles, kept)
            cited[publication][column[name]] = np.exp((values - 1) / tau)
    by_gene = gene_diseases(cases)
    for mode in ("honest", "new gene"):
        scores = np.zeros_like(gram)
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for n, case in enumerate(cases):
            groups[(publications[n], case.gene_symbol if mode == "new gene" else "")].append(n)
        for (publication, gene), members in groups.items():
            replaced = dict(cited.get(publication, {}))
            for disease in by_gene.get(gene, ()) if gene else ():
                if disease in column:
                    replaced[column[disease]] = np.zeros(len(cases))
            queries = np.array(members)
            if not replaced:
                scores[queries] = gram[queries] / np.sqrt(np.outer(norms[queries], norms))
                continue
            columns = np.array(sorted(replaced))
            old = sharpened[:, columns]
            new = np.stack([replaced[c] for c in columns], axis=1)
            partial = gram[queries] - old[queries] @ old.T + new[queries] @ new.T
            fixed = norms - (old**2).sum(axis=1) + (new**2).sum(axis=1)
            scores[queries] = partial / np.sqrt(np.maximum(np.outer(fixed[queries], fixed), 1e-300))
        result[mode] = scores
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hpo-dir", type=Path, default=Path("data/hpo"))
    parser.add_argument("--cache", type=Path, default=Path("data/quality-cache"))
    parser.add_argument("--tau", type=float, default=0.1, help="sharpening of the fits")
    args = parser.parse_args()
    release = ReleaseLibrary(args.hpo_dir).active()
    dev, _ = load_dev_cases(release, SHARED / "cases" / "dev.jsonl")
    cohort: Cohort = cohort_of(dev)
    model = load_model(DEFAULT_MODEL)
    names = list(model.weights)
    features = cached_features(
        args.cache, "dev", release, [hide_genes(c).patient for c in dev], names
    )
    spaces = disease_space(release, dev, args.tau)
    print(f"disease space alone (tau {args.tau}), cross-publication MRR:")
    for mode, scores in spaces.items():
        print(f"  {mode:<9} {figures(cohort, scores, True).mrr:.3f}")
    validation = cross_validate(cohort, features, names)
    alone = figures(cohort, validation.scores(features), True).mrr
    print(f"{model.tag} features, gene-grouped CV: {alone:.3f}")
    with_space = dict(features, **{FEATURE: spaces["honest"]})
    validation = cross_validate(cohort, with_space, [*names, FEATURE])
    for mode in ("honest", "new gene"):
        scores = validation.scores(dict(features, **{FEATURE: spaces[mode]}))
        print(
            f"  + disease space ({mode}), gene-grouped CV: {figures(cohort, scores, True).mrr:.3f}"
        )


if __name__ == "__main__":
    main()
