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
from typing import TypeGuard

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
    """Whether arrays and objects nest deeper than ``limit``.

    Level by level (no recursion), keeping containers only: a 1 MB body of
    45,000 small objects takes a third of the time of a per-value stack walk.
    """
    level: list[_Container] = [document] if _is_container(document) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        below: list[_Container] = []
        for container in level:
            values = container.values() if type(container) is dict else container
            below += [value for value in values if _is_container(value)]
        level = below
        depth += 1
    return False


_Container = dict[str, object] | list[object]


def _is_container(value: object) -> TypeGuard[_Container]:
    # json.loads makes plain dicts and lists only: exact type checks are enough and fast.
    return type(value) is dict or type(value) is list


def _encodable(document: object) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_deep() -> str:
    return f"is nested deeper than {MAX_JSON_DEPTH} levels"
