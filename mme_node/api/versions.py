"""MME API version negotiation from the ``Accept`` and ``Content-Type`` headers.

A client names a version with ``application/vnd.ga4gh.matchmaker.vX.Y+json``,
in ``Accept`` or, failing that, in the request's ``Content-Type`` (the spec
has every request name its version there, and many clients send a default
``Accept: */*``). The node answers in the first named version it speaks, in
its latest version when none is named, and otherwise refuses with 406 listing
the ones it speaks (the answer's ``Content-Type`` then names the latest).
"""

from __future__ import annotations

import re

from starlette.requests import Request

from mme_node.errors import NotAcceptable
from mme_node.formats.schemas import SUPPORTED_VERSIONS

LATEST_VERSION = SUPPORTED_VERSIONS[-1]
_MME_TYPE = re.compile(r"application/vnd\.ga4gh\.matchmaker(?:\.v(\d+\.\d+))?\+json")
PLAIN_JSON = "application/json"


def media_type(version: str) -> str:
    return f"application/vnd.ga4gh.matchmaker.v{version}+json"


ACCEPTED_REQUEST_TYPES = frozenset(
    {PLAIN_JSON, "application/vnd.ga4gh.matchmaker+json"}
    | {media_type(version) for version in SUPPORTED_VERSIONS}
)


def _named_versions(header: str) -> tuple[list[str], bool]:
    """Versions named in a header, and whether it also accepts an unversioned answer."""
    versions: list[str] = []
    unversioned = False
    for part in header.split(","):
        kind = part.split(";")[0].strip().lower()
        found = _MME_TYPE.fullmatch(kind)
        if found and found.group(1):
            versions.append(found.group(1))
        elif found or kind in {PLAIN_JSON, "*/*", "application/*", ""}:
            unversioned = True
    return versions, unversioned


def negotiate_version(request: Request) -> str:
    """The version to answer in (see the module docstring); raises ``NotAcceptable``."""
    accept = request.headers.get("accept", "")
    named, unversioned = _named_versions(accept)
    if not accept.strip():
        unversioned = True
    if not named and unversioned:
        # Accept takes any version: answer in the one the request is written in.
        named, _ = _named_versions(request.headers.get("content-type", ""))
        unversioned = not named
    for version in named:
        if version in SUPPORTED_VERSIONS:
            return version
    if unversioned:
        return LATEST_VERSION
    raise NotAcceptable(
        f"unsupported version number {', '.join(named) or accept!r}; this node supports: "
        + ", ".join(media_type(v) for v in SUPPORTED_VERSIONS)
    )
