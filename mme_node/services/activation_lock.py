"""One HPO release activation at a time per node, whichever processes ask.

An activation compares every patient with the release in use, then records
the switch. Two at once (two ``mme-node hpo activate``, or one beside the
admin API) would each compare against the release they found at the start,
and the later record would carry a report of a switch that never happened.
The data dir's ``hpo-activation.lock`` is held (``flock``) from reading the
release in use to recording the new one; a second activation is refused at
once, with who holds the lock, rather than queued behind a comparison that
takes half a minute at 100,000 patients. The lock goes with the process:
one killed half-way leaves nothing to clean up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from mme_node.errors import Conflict

LOCK_FILE = "hpo-activation.lock"


class ActivationInProgress(Conflict):
    """Another activation holds the node's activation lock."""


class ActivationLock:
    """The inter-process lock of HPO release activations on one data dir."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> ActivationLock:
        return cls(data_dir / LOCK_FILE)

    @contextlib.contextmanager
    def held(self, activation: str) -> Iterator[None]:
        """Hold the lock while the block runs; ``ActivationInProgress`` if another holds it.

        ``activation`` (what is being activated, by whom) is written into the
        file for the message an activation refused meanwhile gets.
        """
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "r+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = handle.read().strip() or "started by another process"
                raise ActivationInProgress(
                    f"another HPO release activation is in progress ({holder}); "
                    "try again once it has finished (`mme-node hpo history` lists it then)"
                ) from None
            try:
                started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                handle.truncate(0)
                handle.write(f"{activation}, process {os.getpid()}, since {started}")
                handle.flush()
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)
