"""``mme-node tokens create | list | revoke``: manage the clients allowed to call the node."""

from __future__ import annotations

import argparse

from mme_node.commands.audit import cli_actor, record_events
from mme_node.security.audit import AuditEvent, token_changed
from mme_node.security.tokens import Role, TokenRegistry
from mme_node.settings import Settings

ROLE_POWERS = {
    Role.SUBMITTER: "a clinic or team: submits its own patients (it is their owner), "
    "matches them here and at peers, sees only its own",
    Role.PEER: "another MME node: calls POST /match, /heartbeat and /metrics",
    Role.ADMIN: "the operator: may call what a peer may (/heartbeat, /match, /metrics) to "
    "check the node, and the admin endpoints under /api/admin; owns no patients, so "
    "/api/patients shows it none",
}
"""What each role may do, as ``tokens create`` and the docs explain it."""


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "tokens",
        help="create, list and revoke client tokens",
        description="Manage the clients (submitters, peer nodes, administrators) "
        "and their access tokens.",
    )
    actions = parser.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="register a client and print its new token",
        description="Register a client and print its token (shown once). Roles: "
        + "; ".join(f"{role.value}: {powers}" for role, powers in ROLE_POWERS.items())
        + ". In a shell: export TOKEN=$(mme-node tokens create --name NAME --role ROLE --quiet)",
    )
    create.add_argument("--name", required=True, help="unique client name (owner of its patients)")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument(
        "--quiet", "-q", action="store_true", help="print the token alone, for $(...) in a shell"
    )
    create.set_defaults(handler=create_token)

    listing = actions.add_parser("list", help="list clients (tokens are never shown again)")
    listing.set_defaults(handler=list_tokens)

    revoke = actions.add_parser("revoke", help="revoke a client's token for good")
    revoke.add_argument("name", help="the client to revoke")
    revoke.set_defaults(handler=revoke_token)


def create_token(args: argparse.Namespace, settings: Settings) -> int:
    """Print the new token; with ``--quiet`` alone, else with what it is for and how to keep it."""
    role = Role(args.role)
    with TokenRegistry(settings.database_path) as registry:
        token = registry.create(args.name, role)
    record_events(
        settings, token_changed(AuditEvent.TOKEN_CREATED, args.name, role.value, cli_actor())
    )
    if args.quiet:
        print(token)
        return 0
    print(f"Created {role.value} client {args.name!r} in {settings.data_dir}.")
    print(f"A {role.value} is {ROLE_POWERS[role]}.")
    print("This token is shown only once; store it now. Clients send it as X-Auth-Token.")
    print("To use it in this shell:")
    print(f"export TOKEN={token}")
    return 0


def list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    with TokenRegistry(settings.database_path) as registry:
        clients = registry.list()
    if not clients:
        print("No clients registered.")
        return 0
    width = max(len("NAME"), *(len(client.name) for client in clients))
    print(f"{'NAME':<{width}}  {'ROLE':<9}  {'CREATED':<20}  STATUS")
    for client in clients:
        status = (
            "active"
            if client.revoked_at is None
            else f"revoked {client.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
        )
        print(
            f"{client.name:<{width}}  {client.role.value:<9}  "
            f"{client.created:%Y-%m-%dT%H:%M:%SZ}  {status}"
        )
    return 0


def revoke_token(args: argparse.Namespace, settings: Settings) -> int:
    with TokenRegistry(settings.database_path) as registry:
        client = registry.revoke(args.name)
    record_events(
        settings,
        token_changed(AuditEvent.TOKEN_REVOKED, client.name, client.role.value, cli_actor()),
    )
    print(f"Revoked client {client.name!r} ({client.role.value}).")
    return 0
