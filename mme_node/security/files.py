"""The data directory is private: 0700 for directories, 0600 for files.

It holds contact details, phenotypes, variants, token digests and peers'
tokens. The command line sets the process umask to 077
(:func:`make_private_by_default`) so that everything the node creates, the
SQLite file and its ``-wal``/``-shm`` companions included, is private from
the start; :func:`loose_permissions` finds what was made before (an older
version, a copy, a restore) so start-up can warn about it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_DIRECTORY = 0o700


def make_private_by_default() -> None:
    """Files and directories this process creates get no group or other permissions."""
    os.umask(PRIVATE_UMASK)


def create_private_directory(path: Path) -> None:
    """``path`` and its missing parents, the last one 0700 whatever the umask."""
    if not path.exists():
        path.mkdir(parents=True, mode=PRIVATE_DIRECTORY)
        path.chmod(PRIVATE_DIRECTORY)


def loose_permissions(root: Path) -> list[Path]:
    """``root`` and everything below it that group or others may read, write or enter.

    Symbolic links are neither followed nor reported (their own mode means nothing).
    """
    below = (
        Path(directory) / name
        for directory, directories, files in os.walk(root)
        for name in (*directories, *files)
    )
    found = []
    for path in (root, *below):
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(path)
    return found


def permission_warning(root: Path) -> str | None:
    """What to tell the operator about ``root``'s loose permissions, or None."""
    loose = loose_permissions(root)
    if not loose:
        return None
    shown = ", ".join(f"{path} ({path.lstat().st_mode & 0o777:o})" for path in loose[:5])
    more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
    return (
        f"the data directory holds patient data but {len(loose)} path(s) in it are open to "
        f"other users: {shown}{more}; fix with: chmod -R go-rwx {root}"
    )
