"""The error hierarchy of the node.

Every error a caller can cause is an :class:`MMEError` carrying the HTTP status
it maps to, so the web layer needs exactly one exception handler and lower
layers never import anything from HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence


class MMEError(Exception):
    """Base of every error the node reports to a client."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the answer must carry (``Retry-After`` for a 429)."""
        return {}

    @property
    def fields(self) -> dict[str, object]:
        """Fields the JSON answer carries beside ``message`` (``supportedVersions`` for a 406)."""
        return {}


class InvalidRequest(MMEError):
    """The request is syntactically wrong (malformed JSON, bad parameter)."""

    status = 400


class InvalidPatient(MMEError):
    """The request is well formed but the patient in it is not valid.

    ``problems`` holds each problem as ``(field path, message)`` (the path as
    in ``patient.features[2].id``) when the error lists them, so that a form
    can show each message beside its field; the message joins them all.
    """

    status = 422

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)

    @classmethod
    def listing(cls, problems: Sequence[tuple[str, str]]) -> InvalidPatient:
        """One error naming every problem: ``path: message; path: message``."""
        return cls("; ".join(f"{path}: {message}" for path, message in problems), problems)


class Unauthorized(MMEError):
    """No token, or a token the node does not know."""

    status = 401


class Forbidden(MMEError):
    """A known token whose role may not call this endpoint."""

    status = 403


class NotFound(MMEError):
    status = 404


class NotAcceptable(MMEError):
    """The client asked for an API version the node does not speak.

    The answer lists the versions the node speaks (``"supportedVersions":
    ["1.0", "1.1"]``, search-api "Error handling"), so that a client can
    re-submit in one of them without parsing the message.
    """

    status = 406

    def __init__(self, message: str, supported_versions: Sequence[str]) -> None:
        super().__init__(message)
        self.supported_versions = tuple(supported_versions)

    @property
    def fields(self) -> dict[str, object]:
        return {"supportedVersions": list(self.supported_versions)}


class Conflict(MMEError):
    """A write based on a stale version, or a duplicate."""

    status = 409


class AlreadyExists(Conflict):
    """A create-only write of something that exists already (nothing was changed)."""


class PayloadTooLarge(MMEError):
    status = 413


class UnsupportedMediaType(MMEError):
    status = 415


class TooManyRequests(MMEError):
    """A client over its rate limit; it may try again after ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(MMEError):
    """A backing service (the store) cannot answer right now; try again later."""

    status = 503
