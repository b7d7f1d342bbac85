"""Term look-up for autocomplete: by id, name or synonym, case-insensitive prefixes.

Matches rank in this order, then by shorter matched text, then by term id:

1. the exact id (``HP:0001250``, ``hp_0001250``, ``0001250``; an alternative
   id finds its primary term),
2. the exact name,
3. a name starting with the query,
4. a synonym starting with the query,
5. every query word starting a word of the name or of a synonym, in any order
   (``seiz focal`` finds "Focal-onset seizure"),
6. an id starting with the query (``HP:00012``).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from enum import IntEnum

from hpo.ontology import Ontology

_WORD = re.compile(r"[0-9a-z]+")
_ID_QUERY = re.compile(r"^(?:HP[:_ ]?)?(\d{1,7})$")


class MatchKind(IntEnum):
    """How a term matched; lower values rank first."""

    EXACT_ID = 0
    EXACT_NAME = 1
    NAME_PREFIX = 2
    SYNONYM_PREFIX = 3
    WORD_PREFIX = 4
    ID_PREFIX = 5


@dataclass(frozen=True)
class TermMatch:
    """One search hit: the term, its name, and the text that matched."""

    term_id: str
    name: str
    matched: str
    kind: MatchKind


@dataclass(frozen=True)
class _Label:
    text: str
    lowered: str
    term: int
    is_name: bool
    words: tuple[str, ...]


class TermIndex:
    """Sorted label and word tables of one ontology, searched by bisection."""

    def __init__(self, ontology: Ontology) -> None:
        self.ontology = ontology
        labels: list[_Label] = []
        for term, name in enumerate(ontology.names):
            texts = [(name, True)] + [(s, False) for s in ontology.synonym_lists[term]]
            for text, is_name in texts:
                lowered = text.casefold()
                labels.append(_Label(text, lowered, term, is_name, tuple(_WORD.findall(lowered))))
        labels.sort(key=lambda label: label.lowered)
        self._labels = labels
        self._label_keys = [label.lowered for label in labels]
        words = sorted({(word, i) for i, label in enumerate(labels) for word in label.words})
        self._word_keys = [word for word, _ in words]
        self._word_labels = [i for _, i in words]

    def search(self, query: str, limit: int = 10) -> list[TermMatch]:
        """The best ``limit`` distinct terms matching ``query`` (see the module docstring)."""
        text = query.strip()
        if not text or limit <= 0:
            return []
        hits = _Hits()
        self._match_ids(text, hits)
        lowered = text.casefold()
        for label in self._labels[_prefix_range(self._label_keys, lowered)]:
            if label.is_name:
                exact = label.lowered == lowered
                kind = MatchKind.EXACT_NAME if exact else MatchKind.NAME_PREFIX
                hits.offer(label.term, kind, label.text)
            else:
                hits.offer(label.term, MatchKind.SYNONYM_PREFIX, label.text)
        tokens = _WORD.findall(lowered)
        if tokens:
            anchor = max(tokens, key=len)
            span = _prefix_range(self._word_keys, anchor)
            for i in sorted(set(self._word_labels[span])):
                label = self._labels[i]
                if all(any(word.startswith(t) for word in label.words) for t in tokens):
                    hits.offer(label.term, MatchKind.WORD_PREFIX, label.text)
        ranked = sorted(
            hits.best.items(),
            key=lambda item: (item[1][0], len(item[1][1]), self.ontology.ids[item[0]]),
        )
        return [
            TermMatch(self.ontology.ids[term], self.ontology.names[term], matched, kind)
            for term, (kind, matched) in ranked[:limit]
        ]

    def _match_ids(self, text: str, hits: _Hits) -> None:
        upper = text.upper()
        found = _ID_QUERY.match(upper)
        if found is None:
            return
        digits = found.group(1)
        prefixed = upper.startswith("HP")
        if len(digits) == 7 or not prefixed:
            exact = f"HP:{digits.zfill(7)}"
            primary = exact if exact in self.ontology else self.ontology.alt_ids.get(exact)
            if primary is not None and primary in self.ontology:
                hits.offer(self.ontology.index_of(primary), MatchKind.EXACT_ID, exact)
        if prefixed:
            prefix = f"HP:{digits}"
            for i in range(*_prefix_span(self.ontology.ids, prefix)):
                hits.offer(i, MatchKind.ID_PREFIX, self.ontology.ids[i])


class _Hits:
    """The best match seen so far for each term."""

    def __init__(self) -> None:
        self.best: dict[int, tuple[MatchKind, str]] = {}

    def offer(self, term: int, kind: MatchKind, matched: str) -> None:
        known = self.best.get(term)
        if known is None or (kind, len(matched)) < (known[0], len(known[1])):
            self.best[term] = (kind, matched)


def _prefix_span(keys: tuple[str, ...] | list[str], prefix: str) -> tuple[int, int]:
    return bisect.bisect_left(keys, prefix), bisect.bisect_left(keys, prefix + "\uffff")


def _prefix_range(keys: list[str], prefix: str) -> slice:
    return slice(*_prefix_span(keys, prefix))
