"""An older version of mme-node, unpacked beside this one, for side-by-side benchmarks.

The machines are shared and noisy, so a speed-up is only believable when old
and new run in the same session on the same data. :func:`unpacked` extracts
a commit with ``git archive`` (nothing in the repository changes: no
worktree, no checkout) and :func:`interpreter_for` runs code against it by
putting it first on ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

BEFORE_SCALING = "b305dab"
"""``main`` when the serving-at-scale work (issue 14) began: the version to compare with."""


@contextlib.contextmanager
def unpacked(revision: str) -> Iterator[Path]:
    """The source tree of ``revision`` in a temporary directory, removed afterwards."""
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", "--format=tar", revision],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix=f"mme-node-{revision}-") as directory:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")
        yield Path(directory)


def interpreter_for(tree: Path | None) -> tuple[list[str], dict[str, str]]:
    """The interpreter command and environment that import ``mme_node`` from ``tree``.

    ``None`` means this checkout (whatever the installed package points at).
    """
    environment = dict(os.environ)
    if tree is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(tree), *filter(None, [environment.get("PYTHONPATH")])]
        )
    return [sys.executable], environment


def child_output(tree: Path | None, script: str, *arguments: str) -> str:
    """What ``script`` prints when run with ``arguments`` in a child process that imports
    ``mme_node`` from ``tree`` (:func:`interpreter_for`); a failing child raises."""
    command, environment = interpreter_for(tree)
    done = subprocess.run(
        [*command, script, *arguments],
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout
