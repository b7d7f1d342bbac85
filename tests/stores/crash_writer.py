"""The victim of ``test_crash_safety``: bulk-imports sample patients until it is killed.

Usage: ``python crash_writer.py DATABASE``. Imports ``sample_record(0)``,
``sample_record(1)``, ... forever, and after each acknowledged batch prints
``ack N`` (N = number of the last patient of that batch) and flushes, so the
parent knows exactly which patients the store has promised to keep.
"""

from __future__ import annotations

import asyncio
import sys
from itertools import count
from pathlib import Path

from store_samples import sample_record

from mme_node.stores import SQLitePatientStore

BATCH_SIZE = 50


async def import_until_killed(path: Path) -> None:
    store = SQLitePatientStore(path, batch_size=BATCH_SIZE)
    await store.open()
    handled = 0

    def acknowledge(batch: int) -> None:
        nonlocal handled
        handled += batch
        print(f"ack {handled - 1}", flush=True)

    await store.import_many((sample_record(n) for n in count()), on_progress=acknowledge)


if __name__ == "__main__":
    asyncio.run(import_until_killed(Path(sys.argv[1])))
