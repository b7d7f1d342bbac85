"""A hand-made miniature HPO release whose IC and similarities are computed by hand.

Hierarchy (``is_a``), with the diseases of ``TINY_HPOA`` propagated upwards::

    R  HP:0000001 All                                  5 diseases  IC 0
    A  HP:0000118 Phenotypic abnormality (R)           5           IC 0
    B  HP:0000010 Nervous system (A)                   4           IC ln(5/4)
    C  HP:0000011 Eye (A)                              2           IC ln(5/2)
    D  HP:0000012 Seizure (B)                          3           IC ln(5/3)
    E  HP:0000013 Intellectual disability (B)          2           IC ln(5/2)
    F  HP:0000014 Visual impairment (C)                2           IC ln(5/2)
    G  HP:0000015 Seizure with disability (D, E)       1           IC ln(5)
    H  HP:0000016 Blindness (F)                        0 -> as 1   IC ln(5)

Diseases: OMIM:1 {D, F}; OMIM:2 {E via alt id HP:0000030}; OMIM:3 {G};
OMIM:4 {F, NOT D}; OMIM:6 {D via obsolete HP:0000020}. OMIM:5 only names
an unknown term, so it is not counted: N = 5.
"""

from __future__ import annotations

import math

R, A, B, C, D, E, F, G, H = (
    "HP:0000001",
    "HP:0000118",
    "HP:0000010",
    "HP:0000011",
    "HP:0000012",
    "HP:0000013",
    "HP:0000014",
    "HP:0000015",
    "HP:0000016",
)

IC = {
    R: 0.0,
    A: 0.0,
    B: math.log(5 / 4),  # 0.22314
    C: math.log(5 / 2),  # 0.91629
    D: math.log(5 / 3),  # 0.51083
    E: math.log(5 / 2),  # 0.91629
    F: math.log(5 / 2),  # 0.91629
    G: math.log(5),  # 1.60944
    H: math.log(5),  # 1.60944
}


def _term(term_id: str, name: str, *parents: str, extra: str = "") -> str:
    lines = ["[Term]", f"id: {term_id}", f"name: {name}"]
    lines += [f"is_a: {parent}" for parent in parents]
    return "\n".join(lines) + ("\n" + extra if extra else "") + "\n"


TINY_OBO = (
    "format-version: 1.2\n"
    "data-version: hp/releases/2024-02-29\n"
    "ontology: hp.obo\n\n"
    + "\n".join(
        [
            _term(R, "All"),
            _term(A, "Phenotypic abnormality", R),
            _term(B, "Abnormality of the nervous system", A),
            _term(C, "Abnormality of the eye", A, extra='synonym: "Eye defect" EXACT []'),
            _term(
                D,
                "Seizure",
                B,
                extra='def: "A transient occurrence of signs." []\n'
                'synonym: "Epilepsy" RELATED []\nsynonym: "Seizures" EXACT []',
            ),
            _term(E, "Intellectual disability", B, extra="alt_id: HP:0000030"),
            _term(F, "Visual impairment", C, extra='synonym: "Poor vision" EXACT []'),
            _term(G, "Seizure with intellectual disability", D, E),
            _term(H, "Blindness", F),
            "[Term]\nid: HP:0000020\nname: obsolete Fits\n"
            "is_obsolete: true\nreplaced_by: HP:0000012\n",
            "[Term]\nid: HP:0000021\nname: obsolete Sensory defect\n"
            "is_obsolete: true\nconsider: HP:0000013\nconsider: HP:0000014\n",
        ]
    )
)

HPOA_HEADER = (
    "#description: tiny test annotations\n"
    "#version: 2024-02-29\n"
    "database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency"
    "\tsex\tmodifier\taspect\tbiocuration\n"
)


def hpoa_row(disease: str, term: str, qualifier: str = "") -> str:
    return f"{disease}\tDisease {disease}\t{qualifier}\t{term}\tPMID:1\tPCS\t\t\t\t\tP\tHPO:test\n"


TINY_HPOA = HPOA_HEADER + "".join(
    [
        hpoa_row("OMIM:1", D),
        hpoa_row("OMIM:1", F),
        hpoa_row("OMIM:2", "HP:0000030"),
        hpoa_row("OMIM:3", G),
        hpoa_row("OMIM:4", F),
        hpoa_row("OMIM:4", D, "NOT"),
        hpoa_row("OMIM:5", "HP:9999999"),
        hpoa_row("OMIM:6", "HP:0000020"),
    ]
)
