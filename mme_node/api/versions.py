"""MME API version negotiation from the ``Accept`` and ``Content-Type`` headers.

A client names a version with ``application/vnd.ga4gh.matchmaker.vX.Y+json``,
in ``Accept`` or, failing that, in the request's ``Content-Type`` (the spec
has every request name its version there, and many clients send a default
``Accept: */*``). The spec makes minor versions compatible: a request in any
v1.x is read, and answered in the named version when the node speaks it,
else in the node's latest v1 version. A major version the node does not
speak is refused with 406 listing the versions it speaks, in the message and
as ``"supportedVersions": ["1.0", "1.1"]`` (the spec's example), whether
named in ``Accept`` or in ``Content-Type`` (the answer's ``Content-Type``
then names the latest).
"""

from __future__ import annotations

import re

from starlette.requests import Request

from mme_node.errors import NotAcceptable
from mme_node.formats.schemas import SUPPORTED_VERSIONS

LATEST_VERSION = SUPPORTED_VERSIONS[-1]
_MME_TYPE = re.compile(r"application/vnd\.ga4gh\.matchmaker(?:\.v(\d+)\.(\d+))?\+json")
PLAIN_JSON = "application/json"
UNVERSIONED_MME = "application/vnd.ga4gh.matchmaker+json"


def media_type(version: str) -> str:
    return f"application/vnd.ga4gh.matchmaker.v{version}+json"


ACCEPTED_REQUEST_TYPES = frozenset(
    {PLAIN_JSON, UNVERSIONED_MME} | {media_type(version) for version in SUPPORTED_VERSIONS}
)
"""Request media types named in a 415 answer; any other v1.x MME type is read too."""

_SPOKEN_MAJORS = frozenset(version.split(".")[0] for version in SUPPORTED_VERSIONS)


def _answer_version(named: str) -> str | None:
    """The version to answer a client that named ``named`` ("1.2"), or None if none fits."""
    if named in SUPPORTED_VERSIONS:
        return named
    major = named.split(".")[0]
    compatible = [v for v in SUPPORTED_VERSIONS if v.split(".")[0] == major]
    return compatible[-1] if compatible else None


def _named_versions(header: str) -> tuple[list[str], bool]:
    """Versions named in a header, and whether it also accepts an unversioned answer."""
    versions: list[str] = []
    unversioned = False
    for part in header.split(","):
        kind = part.split(";")[0].strip().lower()
        found = _MME_TYPE.fullmatch(kind)
        if found and found.group(1):
            versions.append(f"{int(found.group(1))}.{int(found.group(2))}")
        elif found or kind in {PLAIN_JSON, "*/*", "application/*", ""}:
            unversioned = True
    return versions, unversioned


def _unsupported(named: list[str] | str) -> NotAcceptable:
    shown = ", ".join(named) if isinstance(named, list) else repr(named)
    return NotAcceptable(
        f"unsupported version number {shown}; this node supports: "
        + ", ".join(media_type(v) for v in SUPPORTED_VERSIONS)
        + " (and reads any v1.x request)",
        SUPPORTED_VERSIONS,
    )


def negotiate_version(request: Request) -> str:
    """The version to answer in (see the module docstring); raises ``NotAcceptable``."""
    written_in, _ = _named_versions(request.headers.get("content-type", ""))
    unreadable = [v for v in written_in if v.split(".")[0] not in _SPOKEN_MAJORS]
    if unreadable:
        raise _unsupported(unreadable)
    accept = request.headers.get("accept", "")
    named, unversioned = _named_versions(accept)
    if not accept.strip():
        unversioned = True
    if not named and unversioned:
        # Accept takes any version: answer in the one the request is written in.
        named = written_in
        unversioned = not named
    for version in named:
        answer = _answer_version(version)
        if answer is not None:
            return answer
    if unversioned:
        return LATEST_VERSION
    raise _unsupported(named or accept)


def accepted_request_types(request: Request) -> frozenset[str]:
    """The request media types ``/match`` reads: JSON, MME unversioned, and any MME v1.x.

    Call after :func:`negotiate_version`, which has refused other majors with 406.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    found = _MME_TYPE.fullmatch(kind)
    if found and found.group(1) and str(int(found.group(1))) in _SPOKEN_MAJORS:
        return ACCEPTED_REQUEST_TYPES | {kind}
    return ACCEPTED_REQUEST_TYPES
