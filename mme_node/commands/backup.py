"""``mme-node backup DEST``: a consistent copy of the data directory while the node runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from mme_node.progress import ProgressBar
from mme_node.settings import Settings
from mme_node.stores.backup import backup_data_dir


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "backup",
        help="copy the data directory, consistently, while the node runs",
        description="Copy the data directory into DEST (a new or empty directory, made "
        "private): the SQLite database through SQLite's online backup (one committed state, "
        "checked for integrity), every other file as it is. Safe while the node serves. "
        "With the Elasticsearch store the patients live in Elasticsearch: back it up with "
        "its own snapshots.",
    )
    parser.add_argument("destination", type=Path, metavar="DEST", help="where to write the copy")
    parser.set_defaults(handler=backup)


def backup(args: argparse.Namespace, settings: Settings) -> int:
    bar: ProgressBar | None = None

    def progress(copied: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = ProgressBar("database pages", total)
        bar.advance(copied - bar.done)

    report = backup_data_dir(
        settings.data_dir,
        settings.database_path,
        args.destination,
        progress,
        left_out=[settings.rate_limits_path],
    )
    if bar is not None:
        bar.finish()
    print(
        f"Backed up {settings.data_dir} to {report.destination}: database "
        f"{report.database_bytes / 1e6:.1f} MB (integrity ok), {report.other_files} other file(s)."
    )
    return 0
