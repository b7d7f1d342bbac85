"""Which part of HPO a term must come from for each use in a patient.

HPO holds more than phenotypes: the root ``All``, modes of inheritance,
onsets, frequencies, blood groups. An id from the wrong branch is a valid
HPO term but a meaningless fact ("the patient has autosomal dominant
inheritance" as a phenotype, an onset of "Seizure"), and matching would
treat it as evidence; so each use names the branches it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

PHENOTYPIC_ABNORMALITY = "HP:0000118"
CLINICAL_MODIFIER = "HP:0012823"
CLINICAL_COURSE = "HP:0031797"
PAST_MEDICAL_HISTORY = "HP:0032443"
MODE_OF_INHERITANCE = "HP:0000005"
ONSET = "HP:0003674"


class TermHierarchy(Protocol):
    def is_descendant_or_self(self, term: str, ancestor: str) -> bool: ...

    def name(self, term: str) -> str: ...


@dataclass(frozen=True)
class TermUse:
    """A use of an HPO term in a patient: the branches its term must lie strictly below."""

    meaning: str
    branches: tuple[str, ...]

    def misplaced(self, hierarchy: TermHierarchy, term: str) -> str | None:
        """Why ``term`` (a current primary id) cannot serve this use, or None if it can."""
        if any(
            term != branch and hierarchy.is_descendant_or_self(term, branch)
            for branch in self.branches
        ):
            return None
        accepted = ", ".join(f"{hierarchy.name(b)} ({b})" for b in self.branches)
        return f"{term} ({hierarchy.name(term)}) is not {self.meaning}: use a term below {accepted}"


FEATURE = TermUse(
    "a phenotypic feature",
    (PHENOTYPIC_ABNORMALITY, CLINICAL_MODIFIER, CLINICAL_COURSE, PAST_MEDICAL_HISTORY),
)
AGE_OF_ONSET = TermUse("an age of onset", (ONSET,))
INHERITANCE_MODE = TermUse("a mode of inheritance", (MODE_OF_INHERITANCE,))
