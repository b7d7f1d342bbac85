"""Learn the phenotype model's weights on the published cases and write the model file.

    python bench/train_phenotype_model.py                  # report only
    python bench/train_phenotype_model.py --write          # also write the shipped file
    python bench/train_phenotype_model.py --features observed_resnik observed_overlap

The weights are non-negative, sum to 1, and maximise the cross-publication
MRR of phenotype-only ranking (``phenotype_learning.fit_convex_weights``) on
all of ``../shared/cases/dev.jsonl``. Before that, the same fit is run in
gene-grouped cross-validation and its held-out figure printed: that is the
figure to trust (the in-sample one is printed beside it, labelled). The file
records both, with the data and release it was learned on. The node only
reads the file; nothing is learned at start-up.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
from pathlib import Path

from phenotype_learning import (
    cached_features,
    cross_validate,
    figures,
    fit_convex_weights,
    weighted,
)
from quality import SHARED, cohort_of, hide_genes, load_dev_cases

from hpo import ReleaseLibrary
from mme_node.matching.phenotype import FEATURES, MODEL_FORMAT, PhenotypeModel

MODELS = Path(__file__).resolve().parents[1] / "mme_node" / "matching" / "models"
PICTURE_FEATURES = ("picture_resnik", "picture_overlap", "picture_simgic")
DESCRIPTION = (
    "Clinical pictures (observed and excluded terms together) compared by normalised "
    "Resnik best-match average, exact-term Jaccard and simGIC; weighted mean with "
    "weights learned on published cases (see docs/matching.md)."
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hpo-dir", type=Path, default=Path("data/hpo"))
    parser.add_argument("--cache", type=Path, default=Path("data/quality-cache"))
    parser.add_argument("--features", nargs="+", default=list(PICTURE_FEATURES))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--name", default="picture")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="write the model file")
    args = parser.parse_args()
    unknown = sorted(set(args.features) - set(FEATURES))
    if unknown:
        parser.error(f"unknown features {unknown}; known: {sorted(FEATURES)}")

    release = ReleaseLibrary(args.hpo_dir).active()
    dev_path = SHARED / "cases" / "dev.jsonl"
    dev, _ = load_dev_cases(release, dev_path)
    patients = [hide_genes(case).patient for case in dev]
    cohort = cohort_of(dev)
    features = cached_features(args.cache, "dev", release, patients, args.features)

    validation = cross_validate(cohort, features, args.features, args.folds)
    held_out = validation.scores(features)
    cv_cross, cv_all = figures(cohort, held_out, True), figures(cohort, held_out, False)
    weights = fit_convex_weights(cohort, features, args.features, cohort.genes == cohort.genes)
    fitted = weighted(features, weights)
    in_cross, in_all = figures(cohort, fitted, True), figures(cohort, fitted, False)
    print(f"features {args.features}")
    print(
        f"gene-grouped {args.folds}-fold CV: cross-publication MRR {cv_cross.mrr:.3f}, "
        f"all candidates {cv_all.mrr:.3f}  (honest)"
    )
    print(
        f"in-sample (all dev): cross-publication MRR {in_cross.mrr:.3f}, "
        f"all candidates {in_all.mrr:.3f}"
    )
    print(f"weights learned on all of dev: {weights}")

    document = {
        "format": MODEL_FORMAT,
        "name": args.name,
        "version": args.version,
        "description": DESCRIPTION,
        "features": weights,
        "training": {
            "script": "bench/train_phenotype_model.py",
            "date": datetime.date.today().isoformat(),
            "data": f"phenopacket-store published cases, dev.jsonl ({len(dev)} cases)",
            "data_sha256": hashlib.sha256(dev_path.read_bytes()).hexdigest(),
            "hpo_release": release.version,
            "objective": "cross-publication MRR of phenotype-only ranking (same gene)",
            "method": "coordinate ascent over non-negative weights summing to 1",
            "cv": f"{args.folds} folds grouped by gene",
            "cv_mrr_cross_publication": round(cv_cross.mrr, 4),
            "cv_mrr_all_candidates": round(cv_all.mrr, 4),
            "in_sample_mrr_cross_publication": round(in_cross.mrr, 4),
            "cv_fold_weights": validation.weights,
        },
    }
    PhenotypeModel.from_json(document, "the trained model")  # what the node will accept
    if args.write:
        path = MODELS / f"{args.name}-v{args.version}.json"
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
