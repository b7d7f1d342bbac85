"""What a page shows of the node's objects, in a clinician's words.

Term ids come with their names from the active HPO release, genes with how
the node read them, contacts with a link that opens a mail to them, and a
match's explanation as rows of "your term - their term - what they share".
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo import Ontology
from mme_node.model import Consent, Contact, DisclosureLevel, Explanation, Patient, Sharing, Variant
from mme_node.vocabulary.genes import GeneResolver
from mme_node.web.lookups import GeneFeedback, gene_feedback


def term_name(ontology: Ontology, term_id: str) -> str:
    """The term's name in the active release ("" for an id it does not know)."""
    return ontology.name(term_id) if term_id in ontology else ""


@dataclass(frozen=True, slots=True)
class TermView:
    id: str
    name: str
    observed: bool = True


def term_views(ontology: Ontology, patient: Patient) -> list[TermView]:
    return [TermView(f.id, term_name(ontology, f.id), f.observed) for f in patient.features]


@dataclass(frozen=True, slots=True)
class GeneView:
    feedback: GeneFeedback
    variant: str = ""
    zygosity: str = ""


def variant_text(variant: Variant | None) -> str:
    """A variant as a clinician writes it: ``GRCh38 2:166848646 G>A`` (1-based position)."""
    if variant is None:
        return ""
    where = variant.reference_name
    if variant.start is not None:
        where += f":{variant.start + 1}"
    change = ""
    if variant.reference_bases or variant.alternate_bases:
        change = f" {variant.reference_bases or '?'}>{variant.alternate_bases or '?'}"
    return f"{variant.assembly} {where}{change}"


ZYGOSITY = {1: "heterozygous", 2: "homozygous"}


def gene_views(genes: GeneResolver, patient: Patient) -> list[GeneView]:
    return [
        GeneView(
            gene_feedback(genes, g.gene.id),
            variant_text(g.variant),
            ZYGOSITY.get(g.zygosity or 0, ""),
        )
        for g in patient.genomic_features
    ]


@dataclass(frozen=True, slots=True)
class ContactView:
    name: str
    institution: str
    href: str
    mailto: str

    @classmethod
    def of(cls, contact: Contact) -> ContactView:
        """``mailto`` is a mail link to the contact when there is an address, else ""."""
        mailto = f"mailto:{contact.email}" if contact.email else ""
        if not mailto and contact.href.lower().startswith("mailto:"):
            mailto = contact.href
        return cls(contact.name, contact.institution or "", contact.href, mailto)

    @property
    def web_page(self) -> str:
        """The contact's web page, when the href is one (http or https only)."""
        lowered = self.href.lower()
        return self.href if lowered.startswith(("https://", "http://")) else ""


def variant_key_text(key: str) -> str:
    """A shared variant's key (``GRCH37:20:2447951:C>G``, 0-based) as a clinician writes it."""
    parts = key.split(":")
    if len(parts) != 4 or not parts[2].isdigit():
        return key
    build, chromosome, start, change = parts
    build = build.replace("GRCH", "GRCh")
    return f"{build} {chromosome}:{int(start) + 1} {change}"


def gene_symbols(patient: Patient) -> tuple[str, ...]:
    """The patient's genes by symbol (as entered when unresolved), each once."""
    return tuple(dict.fromkeys(g.gene.symbol or g.gene.id for g in patient.genomic_features))


WEAK_INFORMATION_CONTENT = 1.0
"""Below this, what two terms share is too general to mean much ("Phenotypic abnormality")."""


@dataclass(frozen=True, slots=True)
class TermMatchView:
    query: TermView
    candidate: TermView
    shared: TermView
    information_content: float

    @property
    def exact(self) -> bool:
        return self.query.id == self.candidate.id

    @property
    def weak(self) -> bool:
        return self.information_content < WEAK_INFORMATION_CONTENT


@dataclass(frozen=True, slots=True)
class ExplanationView:
    shared_genes: tuple[str, ...]
    shared_variants: tuple[str, ...]
    shared_disorders: tuple[str, ...]
    term_matches: tuple[TermMatchView, ...]
    conflicts: tuple[TermView, ...]
    shared_negatives: tuple[TermView, ...] = ()
    """Terms both patients were examined for and found free of."""

    @classmethod
    def of(cls, ontology: Ontology, explanation: Explanation) -> ExplanationView:
        matches = tuple(
            sorted(
                (
                    TermMatchView(
                        TermView(m.query_term, m.query_label, m.query_observed),
                        TermView(m.candidate_term, m.candidate_label, m.candidate_observed),
                        TermView(m.common_ancestor, m.common_ancestor_label),
                        m.information_content,
                    )
                    for m in explanation.term_matches
                ),
                key=lambda m: -m.information_content,
            )
        )
        return cls(
            shared_genes=explanation.shared_genes,
            shared_variants=tuple(map(variant_key_text, explanation.shared_variants)),
            shared_disorders=explanation.shared_disorders,
            term_matches=matches,
            conflicts=tuple(
                TermView(t, term_name(ontology, t)) for t in explanation.conflicting_terms
            ),
            shared_negatives=tuple(
                TermView(t, term_name(ontology, t), observed=False)
                for t in explanation.shared_excluded_terms
            ),
        )


@dataclass(frozen=True, slots=True)
class MatchView:
    """One result of a match, local or from a peer, ready to show."""

    score: float
    patient: Patient
    contact: ContactView
    genes: tuple[str, ...]
    explanation: ExplanationView | None
    phenotype_score: float | None = None
    genotype_score: float | None = None
    shown_level: DisclosureLevel | None = None
    """The level another owner's patient is shown at (local matches), None if unknown."""

    @property
    def percent(self) -> int:
        return round(self.score * 100)

    @property
    def title(self) -> str:
        """The label when shown, else the id when it reads as one, else whose patient it is.

        Other owners' and peers' patients come under pseudonyms (long hex
        strings) and without their label: a clinician knows them by contact.
        """
        if self.patient.label:
            return self.patient.label
        if len(self.patient.id) <= READABLE_ID:
            return f"Patient {self.patient.id}"
        return f"A patient of {self.contact.name}"

    @property
    def limited(self) -> str:
        """What the patient's consent lets us see, when it is less than everything ("")."""
        if self.shown_level is None or self.shown_level is DisclosureLevel.VARIANTS:
            return ""
        return _SHOWS[self.shown_level]


READABLE_ID = 24
"""Longer ids are pseudonyms or machine ids, not worth a heading."""


def match_view(
    ontology: Ontology,
    score: float,
    patient: Patient,
    explanation: Explanation | None,
    phenotype_score: float | None = None,
    genotype_score: float | None = None,
    shown_level: DisclosureLevel | None = None,
) -> MatchView:
    return MatchView(
        score=score,
        patient=patient,
        contact=ContactView.of(patient.contact),
        genes=gene_symbols(patient),
        explanation=None if explanation is None else ExplanationView.of(ontology, explanation),
        phenotype_score=phenotype_score,
        genotype_score=genotype_score,
        shown_level=shown_level,
    )


_SHOWS = {
    DisclosureLevel.CONTACT: "only the contact",
    DisclosureLevel.PHENOTYPE: "the contact and phenotype",
    DisclosureLevel.GENES: "the contact, phenotype and candidate genes",
    DisclosureLevel.VARIANTS: "everything, variants included",
}


def consent_text(consent: Consent) -> str:
    """A consent in one sentence: where the patient is matched, and what a match shows."""
    if consent.sharing is Sharing.LOCAL:
        where = "Matched on this node only"
    elif consent.sharing is Sharing.COUNTRIES:
        where = f"Matched on this node and by peers in {', '.join(consent.countries)}"
    else:
        where = "Matched on this node and by any peer node"
    return f"{where}; a match shows {_SHOWS[consent.disclosure]}."
