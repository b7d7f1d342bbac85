"""JSON text from outside (request bodies, peers' answers) read into bounded documents.

:func:`load_json` refuses, with one :class:`JSONTextError` saying why, what
``json.loads`` would accept or crash on but no later step can handle:

* nesting past :data:`MAX_JSON_DEPTH` (an MME patient needs 6 levels; 1,000
  levels of ``[`` crash the parser with ``RecursionError``);
* integers longer than Python's 4,300-digit conversion limit (``ValueError``);
* strings holding an unpaired UTF-16 surrogate (``"\\ud800"``), which UTF-8
  cannot encode, so no store or log could write them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

MAX_JSON_DEPTH = 32
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JSONTextError(ValueError):
    """The text is not a JSON document this node can work with; the message says why."""


def load_json(text: bytes) -> object:
    """The parsed document, or :class:`JSONTextError` (message: "is not valid JSON: ...")."""
    try:
        document = json.loads(text)
    except RecursionError:
        raise JSONTextError(_too_deep()) from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise JSONTextError(f"is not valid JSON: {error}") from None
    if _nested_deeper_than(document, MAX_JSON_DEPTH):
        raise JSONTextError(_too_deep())
    # Only \\udxxx escapes can produce a surrogate (raw bytes would not decode): check those.
    if _SURROGATE_ESCAPE.search(text) and not _encodable(document):
        raise JSONTextError(
            "holds an unpaired surrogate escape (\\ud800-\\udfff); strings must be valid Unicode"
        )
    return document


def _nested_deeper_than(document: object, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (iterative: no recursion)."""
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        children: Iterable[object]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _encodable(document: object) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_deep() -> str:
    return f"is nested deeper than {MAX_JSON_DEPTH} levels"
