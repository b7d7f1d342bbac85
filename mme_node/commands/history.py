"""``mme-node history purge``: erase match history older than the retention period.

A serving node does this by itself every few hours (setting
``history_retention_days``); the command is for doing it now, or with another
period. The audit log is never purged.
"""

from __future__ import annotations

import argparse
import asyncio

from mme_node.commands.audit import cli_actor
from mme_node.node import running_node
from mme_node.settings import Settings


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "history",
        help="purge old match history",
        description="The match history of every patient, in and out (docs/governance.md).",
    )
    actions = parser.add_subparsers(dest="history_command", required=True, metavar="ACTION")
    purge = actions.add_parser(
        "purge",
        help="erase matches older than the retention period (the audit log is kept)",
    )
    purge.add_argument(
        "--older-than",
        type=_days,
        metavar="DAYS",
        help="erase matches older than this many days (default: history_retention_days)",
    )
    purge.set_defaults(handler=purge_history)


def purge_history(args: argparse.Namespace, settings: Settings) -> int:
    days = settings.history_retention_days if args.older_than is None else args.older_than
    if days <= 0:
        print("Retention is 0 days (keep for ever): nothing purged.")
        return 0
    purged = asyncio.run(_purge(settings, days))
    print(f"Erased {purged} matches recorded more than {days} days ago.")
    return 0


async def _purge(settings: Settings, days: int) -> int:
    async with running_node(settings) as node:
        return await node.retention.purge(cli_actor(), days=days)


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if days < 1:
        raise argparse.ArgumentTypeError("give at least 1 day")
    return days
