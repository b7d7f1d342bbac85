"""The JSON text of ``/match`` answers, each disclosed patient serialised once.

Good matches come back again and again, to the same peers or to others,
shown at one of a few disclosure levels under a per-peer pseudonym. A
patient's MME JSON at a level is serialised once, with a placeholder where
the id goes, and kept (bounded, least recently used first out); an answer
then costs, per result, a dictionary lookup and a string substitution
instead of a dump and a JSON encoding, which were most of what a result
cost (``docs/serving.md``). The text is byte for byte what ``JSONResponse``
would send for the same document.

A cached text is keyed by the stored record exactly as served: owner, id,
version, time of the write and the HPO release it was derived with, plus
the disclosure level and the API version. A replaced, re-derived or
differently disclosed patient is another key, so nothing stale is served.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mme_node.formats.schemas import dump_patient
from mme_node.model import DisclosureLevel
from mme_node.security.disclosure import Disclosure

PLACEHOLDER = "\x00id\x00"
"""Stands for the id in a cached text; the id is the first key of a dumped patient, so the
first occurrence of its JSON is always the id's place, whatever else the patient holds."""

_PLACEHOLDER_JSON = json.dumps(PLACEHOLDER)

_TextKey = tuple[str, str, int, datetime | None, str, DisclosureLevel, str]


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""Built once: ``json.dumps`` with these options builds an encoder per call (twice a result)."""


def encoded(value: Any) -> str:
    """JSON as ``JSONResponse`` writes it (UTF-8, no spaces, no NaN)."""
    return _ENCODER.encode(value)


TEXTS_KEPT = 16_384
"""Serialised patients kept per process, as many as decoded (about 0.8 KB each with its key)."""


class AnswerTexts:
    """Serialised disclosed patients of recent answers, at most ``size`` of them."""

    def __init__(self, size: int = TEXTS_KEPT) -> None:
        self.size = size
        self._texts: OrderedDict[_TextKey, str] = OrderedDict()

    def __len__(self) -> int:
        """How many serialised patients are kept."""
        return len(self._texts)

    def answer(
        self, results: Sequence[Disclosure], disclaimer: str, terms: str, version: str
    ) -> bytes:
        """The body of an MME answer: results best first, ``score.patient`` in [0, 1]."""
        shown = ",".join(
            f'{{"score":{{"patient":{encoded(round(result.result.score, 6))}}}'
            f',"patient":{self.patient_text(result, version)}}}'
            for result in results
        )
        tail = f'"disclaimer":{encoded(disclaimer)},"terms":{encoded(terms)}'
        return f'{{"results":[{shown}],{tail}}}'.encode()

    def patient_text(self, shown: Disclosure, version: str) -> str:
        """The MME JSON of the patient as ``shown``, its id the one the recipient sees."""
        record = shown.result.record
        key = (
            record.owner,
            record.patient.id,
            record.version,
            record.updated,
            record.hpo_release,
            shown.level,
            version,
        )
        text = self._texts.get(key)
        if text is None:
            document = dump_patient(shown.patient, version)
            if next(iter(document)) != "id":
                raise AssertionError("a dumped patient starts with its id")
            text = encoded(document | {"id": PLACEHOLDER})
            self._texts[key] = text
            if len(self._texts) > self.size:
                self._texts.popitem(last=False)
        else:
            self._texts.move_to_end(key)
        return text.replace(_PLACEHOLDER_JSON, encoded(shown.shown_as), 1)
