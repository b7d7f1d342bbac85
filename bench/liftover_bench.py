"""Benchmark of GRCh37 -> GRCh38 liftover at normalisation: chain load, per variant, per patient.

    python bench/liftover_bench.py [--variants 100000] [--patients 5000]

Liftover happens once per write (submit, import, a peer's query), never per
candidate of a match, so its cost is what it adds to normalising a patient.
This prints: the time to read the bundled chain (first lift), the time per
lifted variant over random GRCh37 positions, and, side by side in the same
run, normalising synthetic patients (8 terms, 2 GRCh37 variants) with and
without the lifter. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time

from mme_node.model import Contact, Feature, Gene, GenomicFeature, Patient, Variant
from mme_node.vocabulary.genes import bundled_gene_index
from mme_node.vocabulary.liftover import VariantLifter
from mme_node.vocabulary.normalise import normalise_patient

CHROMOSOME_SIZES = {"1": 249_250_621, "2": 243_199_373, "7": 159_138_663, "17": 81_195_210}


class SameTerm:
    """A term resolver that knows every id: the benchmark isolates the liftover."""

    def resolve(self, term_id: str, *, follow_consider: bool = False) -> str:
        return term_id

    def is_descendant_or_self(self, term: str, ancestor: str) -> bool:
        return True  # every term is a phenotype here: the branch check always passes

    def name(self, term: str) -> str:
        return term


def random_variant(rng: random.Random) -> Variant:
    chromosome = rng.choice(list(CHROMOSOME_SIZES))
    start = rng.randrange(1_000_000, CHROMOSOME_SIZES[chromosome] - 1_000_000)
    return Variant("GRCh37", chromosome, start, start + 1, "C", "T")


def synthetic_patient(number: int, rng: random.Random) -> Patient:
    genes = ("BRAF", "TP53")
    return Patient(
        id=f"P{number}",
        contact=Contact(name="Dr Bench", href="mailto:bench@example.org"),
        features=tuple(Feature(f"HP:{rng.randrange(1, 700_000):07d}") for _ in range(8)),
        genomic_features=tuple(
            GenomicFeature(gene=Gene(id=gene), variant=random_variant(rng)) for gene in genes
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=5_000)
    args = parser.parse_args()
    rng = random.Random(13)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    lifter = VariantLifter()
    started = time.perf_counter()
    lifter.lifted(Variant("GRCh37", "7", 140453135, 140453136, "A", "T"))
    print(f"chain read and first lift: {(time.perf_counter() - started) * 1000:.0f} ms")

    variants = [random_variant(rng) for _ in range(args.variants)]
    started = time.perf_counter()
    lifted = sum(lifter.lifted(variant) is not None for variant in variants)
    elapsed = time.perf_counter() - started
    print(
        f"{args.variants} random GRCh37 SNVs: {elapsed / args.variants * 1e6:.2f} us each, "
        f"{lifted / args.variants:.2%} lifted"
    )

    genes = bundled_gene_index()
    patients = [synthetic_patient(number, rng) for number in range(args.patients)]
    normalise_patient(patients[0], SameTerm(), genes)  # warm the gene table
    for label, used in (("without liftover", None), ("with liftover", lifter)):
        started = time.perf_counter()
        for patient in patients:
            normalise_patient(patient, SameTerm(), genes, used)
        per_patient = (time.perf_counter() - started) / args.patients * 1e6
        print(f"normalise a patient with 2 GRCh37 variants, {label}: {per_patient:.1f} us")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
