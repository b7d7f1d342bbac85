"""``mme-node peers add | list | test | remove | enable | disable | policy``: our peers.

Tokens we send to peers are secrets: ``list`` never prints them, and
``add --token -`` reads the token from standard input so it stays out of
shell history and the process list. ``policy`` sets what the operator lets a
peer see: its country and the most it may be shown (docs/governance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import httpx

from mme_node.commands.audit import cli_actor, record_events
from mme_node.errors import InvalidRequest
from mme_node.model import Contact, DisclosureLevel
from mme_node.peers.client import PeerOutcome
from mme_node.peers.probe import (
    TEST_PATIENT_ID,
    HeartbeatCheck,
    check_heartbeat,
    link_test_patient,
    send_test_match,
)
from mme_node.peers.registry import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    DEFAULT_TIMEOUT,
    Peer,
    PeerRegistry,
)
from mme_node.security.audit import AuditEvent, peer_changed
from mme_node.settings import Settings


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "peers",
        help="add, list, enable, disable and remove peer nodes",
        description="Manage the MME nodes this node sends its patients to for matching "
        "(kept in peers.toml in the data directory, mode 0600).",
    )
    actions = parser.add_subparsers(dest="peers_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="register a peer node")
    add.add_argument("name", help="unique peer name (letters, digits, '.', '_', '-')")
    add.add_argument(
        "--url",
        required=True,
        help="the peer's MME base URL (https; http only to loopback); /match is appended",
    )
    add.add_argument(
        "--token",
        required=True,
        help="the X-Auth-Token we send to this peer; '-' reads it from standard input",
    )
    add.add_argument(
        "--api-version",
        default=DEFAULT_API_VERSION,
        choices=API_VERSIONS,
        help=f"MME API version the peer accepts (default {DEFAULT_API_VERSION})",
    )
    add.add_argument("--country", help="the peer's country, ISO 3166 alpha-2 (e.g. GB)")
    add.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"deadline in seconds for one whole match request (default {DEFAULT_TIMEOUT:g})",
    )
    add.add_argument(
        "--inbound-token",
        metavar="TOKEN_NAME",
        help="name of our peer token this node uses when it calls us (for reference)",
    )
    add.add_argument(
        "--max-disclosure",
        choices=[level.value for level in DisclosureLevel],
        help="the most this peer may be shown of a patient (default: the node's "
        "peer_default_disclosure setting)",
    )
    add.add_argument("--disabled", action="store_true", help="register it but do not query it")
    add.set_defaults(handler=add_peer)

    policy = actions.add_parser(
        "policy",
        help="set a peer's country and the most it may be shown",
        description="Change what this node lets a peer see (in /match answers and in our "
        "requests): only patients whose consent covers the peer's country, and never more "
        "than the maximum disclosure level.",
    )
    policy.add_argument("name", help="the peer's name")
    where = policy.add_mutually_exclusive_group()
    where.add_argument("--country", help="the peer's country, ISO 3166 alpha-2 (e.g. GB)")
    where.add_argument(
        "--no-country",
        action="store_true",
        help="country unknown: only patients consenting to every peer are shared with it",
    )
    level = policy.add_mutually_exclusive_group()
    level.add_argument(
        "--max-disclosure",
        choices=[level.value for level in DisclosureLevel],
        help="the most this peer may be shown of a patient",
    )
    level.add_argument(
        "--default-disclosure",
        action="store_true",
        help="follow the node's peer_default_disclosure setting",
    )
    policy.set_defaults(handler=set_policy)

    listing = actions.add_parser("list", help="list peers (tokens are never shown)")
    listing.set_defaults(handler=list_peers)

    test = actions.add_parser(
        "test",
        help="check the link to a peer: its heartbeat, then a test-patient match",
        description="Ask the peer for its /heartbeat with our token, then send it a match "
        f"request for a public MME benchmark case ({TEST_PATIENT_ID}) marked test: true (so "
        "nobody is notified) and show its answer. Works on a disabled peer too. Exit code 0 "
        "when both worked, 1 otherwise.",
    )
    test.add_argument("name", help="the peer's name")
    test.set_defaults(handler=test_peer)

    for action, help_text, handler in (
        ("remove", "forget a peer and its token", remove_peer),
        ("enable", "query this peer again", enable_peer),
        ("disable", "stop querying this peer, keeping its settings", disable_peer),
    ):
        command = actions.add_parser(action, help=help_text)
        command.add_argument("name", help="the peer's name")
        command.set_defaults(handler=handler)


def add_peer(args: argparse.Namespace, settings: Settings) -> int:
    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    if not token:
        raise InvalidRequest("no token given")
    peer = Peer(
        name=args.name,
        base_url=args.url,
        token=token,
        api_version=args.api_version,
        country=args.country,
        enabled=not args.disabled,
        timeout=args.timeout,
        inbound_token_name=args.inbound_token,
        max_disclosure=args.max_disclosure,
    )
    PeerRegistry.in_data_dir(settings.data_dir).add(peer)
    record_events(settings, peer_changed(AuditEvent.PEER_ADDED, peer, cli_actor()))
    print(f"Added peer {peer.name!r}: {peer.base_url} ({_state(peer)}, API v{peer.api_version}).")
    return 0


def list_peers(args: argparse.Namespace, settings: Settings) -> int:
    peers = PeerRegistry.in_data_dir(settings.data_dir).list()
    if not peers:
        print("No peers registered.")
        return 0
    rows = [("NAME", "STATE", "API", "COUNTRY", "MAX SHOWN", "TIMEOUT", "INBOUND TOKEN", "URL")]
    rows += [
        (
            peer.name,
            _state(peer),
            peer.api_version,
            peer.country or "-",
            peer.max_disclosure or f"default ({settings.peer_default_disclosure})",
            f"{peer.timeout:g}s",
            peer.inbound_token_name or "-",
            peer.base_url,
        )
        for peer in peers
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    return 0


def remove_peer(args: argparse.Namespace, settings: Settings) -> int:
    peer = PeerRegistry.in_data_dir(settings.data_dir).remove(args.name)
    record_events(settings, peer_changed(AuditEvent.PEER_REMOVED, peer, cli_actor()))
    print(f"Removed peer {peer.name!r} ({peer.base_url}).")
    return 0


def enable_peer(args: argparse.Namespace, settings: Settings) -> int:
    peer = PeerRegistry.in_data_dir(settings.data_dir).enable(args.name)
    record_events(settings, peer_changed(AuditEvent.PEER_CHANGED, peer, cli_actor()))
    print(f"Peer {peer.name!r} is {_state(peer)}.")
    return 0


def disable_peer(args: argparse.Namespace, settings: Settings) -> int:
    peer = PeerRegistry.in_data_dir(settings.data_dir).disable(args.name)
    record_events(settings, peer_changed(AuditEvent.PEER_CHANGED, peer, cli_actor()))
    print(f"Peer {peer.name!r} is {_state(peer)}.")
    return 0


def test_peer(args: argparse.Namespace, settings: Settings) -> int:
    peer = PeerRegistry.in_data_dir(settings.data_dir).get(args.name)
    print(f"Testing peer {peer.name!r}: {peer.base_url} (API v{peer.api_version}, {_state(peer)})")
    contact = Contact(name="mme-node link test", href=_our_contact_href(settings))
    heartbeat, outcome = asyncio.run(_probe(peer, contact))
    mark = "ok  " if heartbeat.ok else "FAIL"
    print(f"{mark} GET {peer.base_url}/heartbeat: {heartbeat.message}")
    _print_outcome(peer, outcome)
    return 0 if heartbeat.ok and outcome.ok else 1


async def _probe(peer: Peer, contact: Contact) -> tuple[HeartbeatCheck, PeerOutcome]:
    async with httpx.AsyncClient(follow_redirects=False) as client:
        heartbeat = await check_heartbeat(client, peer)
        outcome = await send_test_match(client, peer, link_test_patient(contact))
    return heartbeat, outcome


def _print_outcome(peer: Peer, outcome: PeerOutcome) -> None:
    where = f"POST {peer.match_url} (test patient from {TEST_PATIENT_ID})"
    if outcome.error is not None:
        print(f"FAIL {where}: {outcome.error.kind}: {outcome.error.message}")
        if outcome.error.status in (401, 403):
            print("     The peer refuses our token: check it with the peer's operator, then")
            print(f"     mme-node peers remove {peer.name} && mme-node peers add ... --token -")
        return
    count = len(outcome.results)
    print(f"ok   {where}: {count} results in {outcome.elapsed_ms:.0f} ms")
    for result in outcome.results:
        contact = result.patient.contact
        print(
            f"     {result.score:.3f}  {result.patient.id}  contact {contact.name} <{contact.href}>"
        )


def _our_contact_href(settings: Settings) -> str:
    """Where the peer's operator can reach us: the public URL, the mail sender, else the MME."""
    if settings.public_url:
        return settings.public_url
    if settings.smtp_from:
        return f"mailto:{settings.smtp_from}"
    return "https://www.matchmakerexchange.org/"


def set_policy(args: argparse.Namespace, settings: Settings) -> int:
    changes: dict[str, object] = {}
    if args.country is not None or args.no_country:
        changes["country"] = None if args.no_country else args.country
    if args.max_disclosure is not None or args.default_disclosure:
        changes["max_disclosure"] = None if args.default_disclosure else args.max_disclosure
    if not changes:
        raise InvalidRequest(
            "nothing to change: give --country/--no-country and/or "
            "--max-disclosure/--default-disclosure"
        )
    peer = PeerRegistry.in_data_dir(settings.data_dir).change(args.name, **changes)
    record_events(settings, peer_changed(AuditEvent.PEER_CHANGED, peer, cli_actor()))
    print(f"Peer {peer.name!r}: {describe_policy(peer, settings)}.")
    return 0


def describe_policy(peer: Peer, settings: Settings) -> str:
    """``country GB, shown at most genes`` in words, defaults spelled out."""
    country = f"country {peer.country}" if peer.country else "country unknown"
    level = peer.max_disclosure or f"{settings.peer_default_disclosure} (the node default)"
    return f"{country}, shown at most {level}"


def _state(peer: Peer) -> str:
    return "enabled" if peer.enabled else "disabled"
