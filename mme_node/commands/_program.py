"""How to name the ``mme-node`` command in hints, so that a pasted hint runs as it is."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def command_name() -> str:
    """``mme-node`` when on the PATH, else the path it was run by (``.venv/bin/mme-node``)."""
    program = Path(sys.argv[0])
    if program.name != "mme-node" or shutil.which("mme-node") == str(program):
        return "mme-node"
    try:
        return str(program.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(program.absolute())
