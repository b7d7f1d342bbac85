"""Files that survive a crash: what a rename or a new file adds to a directory is synced too.

``os.fsync`` of a file makes its bytes durable, not its name: a file written
then renamed into place needs its directory synced as well, or a power cut
may leave the old name (or none).
"""

from __future__ import annotations

import os
from pathlib import Path


def sync_directory(directory: Path) -> None:
    """Make the entries of ``directory`` (new files, renames) durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
