"""The ``mme-node`` command line: ``serve``, ``hpo``, ``patients``, ``tokens``, ``peers``.

Each command group lives in :mod:`mme_node.commands` and registers itself
here; a handler takes the parsed arguments and the settings and returns the
process exit code. Errors the user can fix are printed as one line, no trace.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mme_node.commands import COMMAND_GROUPS
from mme_node.errors import MMEError
from mme_node.settings import load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mme-node", description="A Matchmaker Exchange node for rare-disease matchmaking."
    )
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMAND_GROUPS:
        register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
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
