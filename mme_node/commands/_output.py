"""Where an export goes: standard output, or a file that appears only once complete."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from mme_node.errors import InvalidRequest


@contextlib.contextmanager
def output(path: Path | None) -> Iterator[TextIO]:
    """Standard output when ``path`` is None; else a file written beside ``path`` and
    renamed into place when the block ends without error, so a failed export leaves no
    half-written file (a file that cannot be written is a one-line ``InvalidRequest``).
    """
    if path is None:
        yield sys.stdout
        return
    if not path.parent.is_dir():
        raise InvalidRequest(f"{path.parent}: no such directory")
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            yield handle
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise InvalidRequest(f"writing {path} failed: {error.strerror or error}") from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
