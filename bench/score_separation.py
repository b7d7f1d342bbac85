"""How match scores separate pairs that share a cause from the rest: the basis of notify_min_score.

    python bench/score_separation.py

Each of the 50 MME benchmark patients (loaded as test patients, as ``serve
--demo`` does) is queried against the others, once with its phenotype only
and once with its genes too. A result is a *same-gene* pair when the two
patients share a candidate gene. Prints the deciles of the scores of both
kinds of pairs, which ``notify_min_score`` (default 0.25) must separate, and
the share of each at or above it.
Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
from importlib import resources
from pathlib import Path

from mme_node.formats.schemas import load_patient
from mme_node.node import start_node
from mme_node.settings import load_settings


async def pair_scores() -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as directory:
        settings = load_settings().replace(data_dir=Path(directory), demo=True)
        node = await start_node(settings)
        try:
            data = resources.files("mme_node") / "data" / "benchmark_patients.json"
            documents = json.loads(data.read_text(encoding="utf-8"))
            scores: dict[str, list[float]] = {}
            for document in documents:
                genes = {g["gene"]["id"] for g in document.get("genomicFeatures", ())}
                for kind in ("phenotype only", "with genes"):
                    query = dict(document, id=f"query-{document['id']}", test=True)
                    if kind == "phenotype only":
                        query.pop("genomicFeatures", None)
                        if not query.get("features"):
                            continue
                    patient, _ = node.patients.normalise(load_patient(query)[0])
                    for result in await node.matcher.match(patient, limit=50, min_score=0.0):
                        candidate = result.record.patient
                        if candidate.id == document["id"]:
                            continue
                        shared = genes & {g.gene.id for g in candidate.genomic_features}
                        label = f"{kind}, {'same gene' if shared else 'other'}"
                        scores.setdefault(label, []).append(result.score)
            return scores
        finally:
            await node.stop()


def main() -> None:
    threshold = load_settings().notify_min_score
    for label, scores in sorted(asyncio.run(pair_scores()).items()):
        deciles = ", ".join(f"{q:.2f}" for q in statistics.quantiles(scores, n=10))
        above = sum(score >= threshold for score in scores) / len(scores)
        print(
            f"{label:<28} {len(scores):>5} pairs, deciles {deciles}; "
            f"{above:.1%} at or above notify_min_score {threshold:g}"
        )


if __name__ == "__main__":
    main()
