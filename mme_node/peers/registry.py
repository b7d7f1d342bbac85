"""The peer registry: which MME nodes we send our patients to, and how.

The registry is one TOML file in the data directory (``peers.toml``). It holds
the tokens we present to each peer, so it is created with mode 0600 and every
change is written to a temporary file that replaces the old one atomically:
a crash never leaves a half-written registry behind.

A :class:`Peer` validates itself on construction, so every peer the node holds
has an https URL (plain http only to loopback, for local testing), a known API
version and a well-formed country code. Its token never shows in ``repr``.

Each peer also carries the operator's sharing policy for it: its ``country``
and the ``max_disclosure`` level it may be shown (see ``docs/governance.md``);
what the peer receives is never more than that, nor than a patient's consent.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mme_node.durable import sync_directory
from mme_node.errors import Conflict, InvalidRequest, MMEError, NotFound
from mme_node.model import DisclosureLevel

logger = logging.getLogger(__name__)

API_VERSIONS = ("1.0", "1.1")
DEFAULT_API_VERSION = "1.0"
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 300.0
REGISTRY_FILE = "peers.toml"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_COUNTRY = re.compile(r"[A-Z]{2}")
# Tokens travel in an HTTP header: visible ASCII only, so no header injection.
_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")
_LOOPBACK_NAMES = frozenset({"localhost"})


class RegistryFileError(MMEError):
    """The registry file cannot be read or does not hold a valid list of peers."""


@dataclass(frozen=True, slots=True)
class Peer:
    """A remote MME node we query.

    ``token`` is what we send in ``X-Auth-Token``; ``inbound_token_name`` names
    the ``peer`` token (see ``mme-node tokens``) this peer uses when it calls
    us; the node applies this peer's policy to the calls made with that
    token. ``timeout`` is the whole-exchange deadline in seconds.
    ``max_disclosure`` None means the node's ``peer_default_disclosure``.
    Raises :class:`~mme_node.errors.InvalidRequest` on any bad field.
    """

    name: str
    base_url: str
    token: str = field(repr=False)
    api_version: str = DEFAULT_API_VERSION
    country: str | None = None
    enabled: bool = True
    timeout: float = DEFAULT_TIMEOUT
    inbound_token_name: str | None = None
    max_disclosure: DisclosureLevel | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise InvalidRequest(
                f"peer name {self.name!r} must be 1-64 letters, digits, '.', '_' or '-'"
            )
        object.__setattr__(self, "base_url", validate_base_url(self.base_url))
        if not _TOKEN.fullmatch(self.token):
            raise InvalidRequest(
                f"peer {self.name}: the token must be 1-512 visible ASCII characters"
            )
        if self.api_version not in API_VERSIONS:
            raise InvalidRequest(
                f"peer {self.name}: API version {self.api_version!r} is not one of "
                f"{', '.join(API_VERSIONS)}"
            )
        if self.country is not None and not _COUNTRY.fullmatch(self.country):
            raise InvalidRequest(
                f"peer {self.name}: country {self.country!r} is not an ISO 3166 alpha-2 code "
                "(two upper-case letters)"
            )
        if not (math.isfinite(self.timeout) and 0 < self.timeout <= MAX_TIMEOUT):
            raise InvalidRequest(
                f"peer {self.name}: timeout must be more than 0 and at most {MAX_TIMEOUT:g} s"
            )
        if self.inbound_token_name is not None and not _NAME.fullmatch(self.inbound_token_name):
            raise InvalidRequest(
                f"peer {self.name}: inbound token name {self.inbound_token_name!r} is not a name"
            )
        if self.max_disclosure is not None and not isinstance(self.max_disclosure, DisclosureLevel):
            try:
                object.__setattr__(self, "max_disclosure", DisclosureLevel(self.max_disclosure))
            except ValueError:
                raise InvalidRequest(
                    f"peer {self.name}: max disclosure {self.max_disclosure!r} is not one of "
                    f"{', '.join(DisclosureLevel)}"
                ) from None

    @property
    def match_url(self) -> str:
        return f"{self.base_url}/match"

    def replace(self, **changes: Any) -> Peer:
        return dataclasses.replace(self, **changes)


def validate_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash, or raise InvalidRequest.

    https is required; plain http is accepted only for loopback hosts
    (127.0.0.0/8, ::1, localhost) so a token never crosses a network in clear.
    Credentials, queries and fragments are refused: the URL is logged.
    """
    if any(char.isspace() or not char.isprintable() for char in url):
        raise InvalidRequest(f"peer URL {url!r} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as error:
        raise InvalidRequest(f"peer URL {url!r} is malformed: {error}") from error
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidRequest(f"peer URL {url!r} must be https://host[:port][/path]")
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest("peer URL must not carry credentials; use --token")
    if parts.query or parts.fragment:
        raise InvalidRequest(f"peer URL {url!r} must not have a query or fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InvalidRequest(
            f"peer URL {url!r} uses plain http: only https is allowed, except to "
            "loopback addresses (127.0.0.0/8, ::1, localhost) for local testing"
        )
    return url.rstrip("/")


def is_loopback_host(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PeerRegistry:
    """The peers stored in one file; each call reads the file afresh.

    Reading on every call keeps a running server in step with ``mme-node
    peers`` commands without a reload signal. Writes are atomic; two admin
    commands racing may lose one change, never corrupt the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parsed: tuple[tuple[int, int, int], dict[str, Peer]] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> PeerRegistry:
        """The node's registry: ``peers.toml`` in its data directory."""
        return cls(data_dir / REGISTRY_FILE)

    def list(self) -> tuple[Peer, ...]:
        """Every peer, sorted by name."""
        return tuple(sorted(self._read().values(), key=lambda peer: peer.name))

    def enabled(self) -> tuple[Peer, ...]:
        """The peers outbound matching should query, sorted by name."""
        return tuple(peer for peer in self.list() if peer.enabled)

    def get(self, name: str) -> Peer:
        peers = self._read()
        if name not in peers:
            raise NotFound(f"no peer named {name!r}")
        return peers[name]

    def add(self, peer: Peer) -> None:
        peers = self._read()
        if peer.name in peers:
            raise Conflict(f"a peer named {peer.name!r} already exists; remove it first")
        peers[peer.name] = peer
        self._write(peers.values())

    def remove(self, name: str) -> Peer:
        peers = self._read()
        removed = peers.pop(name, None)
        if removed is None:
            raise NotFound(f"no peer named {name!r}")
        self._write(peers.values())
        return removed

    def enable(self, name: str) -> Peer:
        return self._set_enabled(name, True)

    def disable(self, name: str) -> Peer:
        return self._set_enabled(name, False)

    def _set_enabled(self, name: str, enabled: bool) -> Peer:
        return self.change(name, enabled=enabled)

    def change(self, name: str, **changes: Any) -> Peer:
        """Change some fields of one peer (validated like a new one); the changed peer."""
        peers = self._read()
        if name not in peers:
            raise NotFound(f"no peer named {name!r}")
        peers[name] = peers[name].replace(**changes)
        self._write(peers.values())
        return peers[name]

    def for_caller(self, client_name: str) -> Peer | None:
        """The peer that calls us with the ``peer`` token named ``client_name``, if registered.

        The peer whose ``inbound_token_name`` is that name, else the peer of
        that name; None when neither is registered.
        """
        peers = self._read()
        linked = [peer for peer in peers.values() if peer.inbound_token_name == client_name]
        if linked:
            return min(linked, key=lambda peer: peer.name)
        return peers.get(client_name)

    def _read(self) -> dict[str, Peer]:
        """The peers in the file; parsed again only when the file changed (a new copy each call).

        Every write replaces the file, so its inode, size and modification
        time tell a changed file from the one already parsed; ``/match``
        reads the registry on every request to find the caller's policy.
        """
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise RegistryFileError(f"cannot read peer registry {self.path}: {error}") from error
        signature = (status.st_ino, status.st_mtime_ns, status.st_size)
        if self._parsed is None or self._parsed[0] != signature:
            self._parsed = (signature, self._parse())
        return dict(self._parsed[1])

    def _parse(self) -> dict[str, Peer]:
        try:
            with self.path.open("rb") as handle:
                mode = os.fstat(handle.fileno()).st_mode
                document = tomllib.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise RegistryFileError(f"cannot read peer registry {self.path}: {error}") from error
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("peer registry %s is readable by others; chmod 600 it", self.path)
        entries = document.get("peer", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise RegistryFileError(f"peer registry {self.path}: expected [[peer]] tables")
        peers: dict[str, Peer] = {}
        for entry in entries:
            peer = _peer_from_table(entry, self.path)
            if peer.name in peers:
                raise RegistryFileError(f"peer registry {self.path}: {peer.name!r} appears twice")
            peers[peer.name] = peer
        return peers

    def _write(self, peers: Iterable[Peer]) -> None:
        text = render_registry(sorted(peers, key=lambda peer: peer.name))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file 0600, so the tokens are never readable by others.
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        sync_directory(self.path.parent)


_FILE_FIELDS = {
    "name": "name",
    "url": "base_url",
    "token": "token",
    "api_version": "api_version",
    "country": "country",
    "enabled": "enabled",
    "timeout": "timeout",
    "inbound_token_name": "inbound_token_name",
    "max_disclosure": "max_disclosure",
}
_FIELD_TYPES: dict[str, type] = {"enabled": bool, "timeout": float}
_REQUIRED_FIELDS = ("name", "url", "token")


def _peer_from_table(table: Mapping[str, Any], path: Path) -> Peer:
    label = f"peer {table.get('name', '?')}"
    unknown = sorted(set(table) - set(_FILE_FIELDS))
    missing = [key for key in _REQUIRED_FIELDS if key not in table]
    if unknown or missing:
        problems = [f"unknown {key}" for key in unknown] + [f"no {key}" for key in missing]
        raise RegistryFileError(f"peer registry {path}: {label}: {', '.join(problems)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        kind = _FIELD_TYPES.get(key, str)
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            problem = f"{key} is not a {kind.__name__}"
            raise RegistryFileError(f"peer registry {path}: {label}: {problem}")
        values[_FILE_FIELDS[key]] = value
    try:
        return Peer(**values)
    except InvalidRequest as error:
        raise RegistryFileError(f"peer registry {path}: {error.message}") from error


def render_registry(peers: Iterable[Peer]) -> str:
    """The TOML text of a registry holding ``peers`` (one ``[[peer]]`` table each)."""
    lines = [
        "# Peers of this MME node, managed with `mme-node peers`.",
        "# Holds the tokens we send to each peer: keep this file mode 0600.",
    ]
    for peer in peers:
        lines += ["", "[[peer]]"]
        for key, attribute in _FILE_FIELDS.items():
            value = getattr(peer, attribute)
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: str | bool | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _toml_string(value)


def _toml_string(text: str) -> str:
    """A TOML basic string; escapes every character TOML forbids unescaped."""
    escaped = []
    for char in text:
        if char in ('"', "\\"):
            escaped.append("\\" + char)
        elif char != "\t" and (ord(char) < 0x20 or ord(char) == 0x7F):
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
