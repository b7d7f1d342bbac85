"""The ``mme-node`` command line: serve, doctor, hpo, patients, tokens, peers.

Each command group lives in :mod:`mme_node.commands` and registers itself
here; a handler takes the parsed arguments and the settings and returns the
process exit code. Errors the user can fix are printed as one line, no trace.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mme_node.commands import COMMAND_GROUPS
from mme_node.errors import MMEError
from mme_node.security.files import make_private_by_default
from mme_node.settings import anchored, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mme-node", description="A Matchmaker Exchange node for rare-disease matchmaking."
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the node's data directory (setting data_dir, MME_DATA_DIR; default "
        "~/.local/share/mme-node); `mme-node doctor` shows the one in use",
    )
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMAND_GROUPS:
        register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Everything the node writes (database, keys, peers, backups, exports) is patient data.
    make_private_by_default()
    try:
        settings = load_settings()
        if args.data_dir is not None:
            settings = settings.replace(data_dir=anchored(args.data_dir, Path.cwd()))
        code: int = args.handler(args, settings)
    except MMEError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`mme-node patients list | head`): not an error.
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
