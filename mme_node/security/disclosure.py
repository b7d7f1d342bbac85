"""What a recipient is shown of a patient: the lesser of consent and policy, under a pseudonym.

A *recipient* is whoever a match result is shown to: a peer node (answering
its ``/match``, or receiving our own request), or a submitter of this node
matching against other submitters' patients. For a peer, the operator's
policy caps the level (its ``max_disclosure``); the patient's consent caps it
too, and the lesser of the two applies. The patient is shown under the
recipient's pseudonym, never under the submitter's id, and its free-text
``label`` is never shown to anyone but its owner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from mme_node.model import (
    Consent,
    DisclosureLevel,
    Explanation,
    Feature,
    Gene,
    GenomicFeature,
    MatchResult,
    Patient,
    PatientRecord,
)
from mme_node.security.consent import PeerScope


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who is shown a match result.

    ``name`` is the peer's name, or the owner (client name) of a submitter of
    this node when ``local``. ``max_disclosure`` is the operator's cap for a
    peer; a local submitter has none (only consent limits what it sees).
    """

    name: str
    country: str | None = None
    max_disclosure: DisclosureLevel | None = None
    local: bool = False

    @property
    def audience(self) -> str:
        """The name pseudonyms and audit entries use: ``local:<owner>`` for a submitter."""
        return f"local:{self.name}" if self.local else self.name

    @property
    def scope(self) -> PeerScope | None:
        """Which patients may be matched for it: None for this node's own submitters."""
        return None if self.local else PeerScope(self.country)

    def owns(self, record: PatientRecord) -> bool:
        """Whether ``record`` is this submitter's own patient (shown to it whole)."""
        return self.local and record.owner == self.name

    def level_for(self, consent: Consent) -> DisclosureLevel:
        """What this recipient may see of a patient under ``consent``."""
        if self.max_disclosure is None:
            return consent.disclosure
        return consent.disclosure.lesser(self.max_disclosure)


WITHHELD = Feature(
    "HP:0000118", label="Phenotypic abnormality (details not disclosed under the patient's consent)"
)
"""What a result shows in place of a phenotype it may not show.

MME JSON requires ``features`` or ``genomicFeatures``, and a strict peer
refuses a whole answer holding a result without either; the root of the
phenotype terms says nothing about the patient.
"""


def as_result(patient: Patient) -> Patient:
    """``patient`` as a valid MME result: :data:`WITHHELD` if it would show no feature or gene."""
    if patient.features or patient.genomic_features:
        return patient
    return patient.replace(features=(WITHHELD,))


def shows_anything(patient: Patient) -> bool:
    """Whether a disclosed patient has something a peer could match on."""
    return bool(patient.features or patient.genomic_features)


def disclosed(patient: Patient, level: DisclosureLevel, pseudonym: str) -> Patient:
    """``patient`` as shown at ``level``, identified by ``pseudonym``, without its label.

    Every level keeps the contact, species and test flag (a match is worth
    nothing without someone to contact). ``genes`` keeps each distinct gene
    without its variant, zygosity or variant type; ``variants`` keeps them.
    The result may show no feature and no gene at all (see :func:`as_result`).
    """
    changes: dict[str, object] = {"id": pseudonym, "label": None}
    if not level.includes(DisclosureLevel.PHENOTYPE):
        changes |= {
            "sex": None,
            "age_of_onset": None,
            "inheritance_mode": None,
            "disorders": (),
            "features": (),
        }
    if not level.includes(DisclosureLevel.GENES):
        changes["genomic_features"] = ()
    elif not level.includes(DisclosureLevel.VARIANTS):
        changes["genomic_features"] = tuple(
            GenomicFeature(gene=gene) for gene in _distinct_genes(patient.genomic_features)
        )
    # One copy of the patient, whatever the level (a copy costs microseconds per result).
    return patient.replace(**changes)


def _distinct_genes(features: tuple[GenomicFeature, ...]) -> Iterable[Gene]:
    """Each gene of ``features`` once, in order (most patients have one: nothing to hash)."""
    if len(features) == 1:
        return (features[0].gene,)
    return dict.fromkeys(feature.gene for feature in features)


def disclosed_explanation(explanation: Explanation, level: DisclosureLevel) -> Explanation:
    """What an explanation may say at ``level``: nothing the patient itself could not show.

    The phenotype parts (term matches, conflicts, shared negatives, disorders)
    go below ``phenotype``, shared genes below ``genes``, shared variants
    below ``variants``.
    """
    if not level.includes(DisclosureLevel.PHENOTYPE):
        explanation = replace(
            explanation,
            shared_disorders=(),
            term_matches=(),
            conflicting_terms=(),
            shared_excluded_terms=(),
        )
    if not level.includes(DisclosureLevel.GENES):
        explanation = replace(explanation, shared_genes=())
    if not level.includes(DisclosureLevel.VARIANTS):
        explanation = replace(explanation, shared_variants=())
    return explanation


@dataclass(frozen=True, slots=True)
class OutboundQuery:
    """One of our patients as our match request to one peer carries it."""

    recipient: Recipient
    level: DisclosureLevel
    shown_as: str
    patient: Patient


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One match result as a recipient is shown it.

    ``shown_as`` is the id the recipient sees (a pseudonym; the patient's own
    id only for its owner), :attr:`patient` what it sees, ``level`` the level
    that decided it, and ``result`` the full result (score, stored record)
    that only this node knows.
    """

    result: MatchResult
    recipient: Recipient
    level: DisclosureLevel
    shown_as: str

    @property
    def patient(self) -> Patient:
        """The patient as the recipient sees it: whole for its owner, else :func:`disclosed`
        at ``level`` under ``shown_as`` (and :func:`as_result`).

        Made anew at each access, not when disclosed: most results of an answer
        are never looked at as objects (their text is cached, see
        :mod:`mme_node.api.answers`), and the copy was most of what disclosing
        one cost.
        """
        record = self.result.record
        if self.recipient.owns(record):
            return record.patient
        return as_result(disclosed(record.patient, self.level, self.shown_as))

    @property
    def explanation(self) -> Explanation | None:
        explanation = self.result.explanation
        return None if explanation is None else disclosed_explanation(explanation, self.level)
