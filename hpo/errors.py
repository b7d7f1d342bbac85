"""The errors of the ``hpo`` package: one small hierarchy rooted at :class:`HPOError`.

Callers catch :class:`HPOError` for "anything the HPO engine refused", or a
subclass when they can act on it (ask the user for another term, report a
damaged release file).
"""

from __future__ import annotations


class HPOError(Exception):
    """Base class of every error raised by the ``hpo`` package."""


class UnknownTermError(HPOError, KeyError):
    """A term id is not in the ontology (neither current, alternative nor obsolete)."""

    def __init__(self, term_id: str, detail: str = "") -> None:
        self.term_id = term_id
        message = f"unknown HPO term {term_id!r}"
        super().__init__(f"{message}: {detail}" if detail else message)

    def __str__(self) -> str:
        # KeyError would quote the message; show it as written.
        return str(self.args[0])


class ObsoleteTermError(HPOError):
    """A term id is obsolete and has no single replacement.

    ``consider`` lists the terms the ontology suggests instead (may be empty).
    """

    def __init__(self, term_id: str, consider: tuple[str, ...] = ()) -> None:
        self.term_id = term_id
        self.consider = consider
        hint = f"; consider {', '.join(consider)}" if consider else ""
        super().__init__(f"HPO term {term_id} is obsolete with no replacement{hint}")


class ReleaseError(HPOError):
    """A release file is missing, damaged, incomplete or inconsistent."""
