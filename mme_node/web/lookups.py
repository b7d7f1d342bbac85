"""Vocabulary for the case form: HPO type-ahead, term choices, gene feedback.

``/app/terms?q=`` and ``/app/genes?q=`` answer the form's small script as
you type; without the script the form still works (ids and exact names are
looked up on save). Both read the node's active HPO release and gene table,
as validation does, so what the form offers is what the node accepts.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from hpo import MatchKind, Ontology, Release
from mme_node.errors import InvalidRequest
from mme_node.vocabulary.genes import GeneLevel, GeneLookupError, GeneResolver
from mme_node.web.context import node_of
from mme_node.web.pages import json_answer, signed_in_json
from mme_node.web.visitor import Visitor

ONSET_ROOT = "HP:0003674"
INHERITANCE_ROOT = "HP:0000005"
MAX_SUGGESTIONS = 12
MAX_QUERY = 100

_FOUND_AS = {
    GeneLevel.APPROVED: "approved symbol",
    GeneLevel.PREVIOUS: "previous symbol",
    GeneLevel.ALIAS: "alias",
    GeneLevel.HGNC_ID: "HGNC id",
    GeneLevel.ENSEMBL: "Ensembl id",
    GeneLevel.ENTREZ: "Entrez id",
}


@dataclass(frozen=True, slots=True)
class TermChoice:
    id: str
    name: str
    depth: int


@functools.lru_cache(maxsize=8)
def term_choices(ontology: Ontology, root: str) -> tuple[TermChoice, ...]:
    """The terms under ``root`` (not itself), parents before children, names in order."""
    if root not in ontology:
        return ()
    below = {ontology.term_id(int(i)) for i in ontology.descendants(root)} - {root}
    children: dict[str, list[str]] = {}
    for term in below:
        for parent in ontology.parent_ids(term):
            if parent in below or parent == root:
                children.setdefault(parent, []).append(term)
    ordered: list[TermChoice] = []
    seen: set[str] = set()

    def visit(term: str, depth: int) -> None:
        for child in sorted(children.get(term, ()), key=ontology.name):
            if child not in seen:
                seen.add(child)
                ordered.append(TermChoice(child, ontology.name(child), depth))
                visit(child, depth + 1)

    visit(root, 0)
    return tuple(ordered)


_WARMING: set[asyncio.Task[object]] = set()


def warm_up_search(release: Release) -> None:
    """Build the release's term index in a thread now, if nobody has yet.

    The first search builds it (seconds of work); a page with a type-ahead
    calls this so that the clinician's first keystrokes do not wait for it.
    """
    if "term_index" in vars(release):  # the cached property has been computed
        return
    task: asyncio.Task[object] = asyncio.create_task(asyncio.to_thread(lambda: release.term_index))
    _WARMING.add(task)
    task.add_done_callback(_WARMING.discard)


def exact_term(release: Release, text: str) -> str | None:
    """The HPO id of the term named exactly ``text`` (name or synonym, any case), or None.

    Blocking (the release's first search builds its term index): call it in a thread.
    """
    wanted = text.strip().casefold()
    for match in release.search(text, limit=5):
        if match.kind in (MatchKind.EXACT_ID, MatchKind.EXACT_NAME):
            return match.term_id
        if match.matched.casefold() == wanted:
            return match.term_id
    return None


@dataclass(frozen=True, slots=True)
class GeneFeedback:
    """What the node makes of a gene as entered: the HGNC gene, or why there is none."""

    entered: str
    symbol: str = ""
    hgnc_id: str = ""
    found_as: str = ""
    problem: str = ""

    @property
    def renamed(self) -> bool:
        return bool(self.symbol) and self.symbol.casefold() != self.entered.casefold()


def gene_feedback(genes: GeneResolver, entered: str) -> GeneFeedback:
    try:
        resolved = genes.resolve(entered)
    except GeneLookupError as error:
        return GeneFeedback(entered, problem=error.message)
    if resolved is None:
        return GeneFeedback(entered, problem=f'"{entered}" means no gene: it is not used')
    return GeneFeedback(entered, resolved.symbol, resolved.hgnc_id, _FOUND_AS[resolved.level])


def _query(request: Request) -> str:
    text = request.query_params.get("q", "").strip()
    if len(text) > MAX_QUERY:
        raise InvalidRequest(f"query parameter q must be at most {MAX_QUERY} characters")
    return text


@signed_in_json
async def suggest_terms(request: Request, visitor: Visitor) -> Response:
    """``{"terms": [{"id", "name", "matched"}]}``: HPO terms for what was typed so far."""
    text = _query(request)
    release = node_of(request).release
    matches = await asyncio.to_thread(release.search, text, MAX_SUGGESTIONS) if text else []
    return json_answer(
        {"terms": [{"id": m.term_id, "name": m.name, "matched": m.matched} for m in matches]}
    )


@signed_in_json
async def check_gene(request: Request, visitor: Visitor) -> Response:
    """``{"symbol", "hgncId", "foundAs", "problem"}``: how the node reads a gene as entered."""
    text = _query(request)
    if not text:
        raise InvalidRequest("query parameter q is required")
    feedback = gene_feedback(node_of(request).patients.genes, text)
    return json_answer(
        {
            "entered": feedback.entered,
            "symbol": feedback.symbol,
            "hgncId": feedback.hgnc_id,
            "foundAs": feedback.found_as,
            "problem": feedback.problem,
        }
    )
