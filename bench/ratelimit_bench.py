"""What the rate limits cost a request: the buckets shared through a file, or in memory.

    python bench/ratelimit_bench.py [--calls 200000] [--keys 1000] [--rounds 3]
                                    [--baseline COMMIT]

Each ``POST /match`` passes ``AccessLimits.check_caller`` (the failed
authentication buckets of its address and token) and ``admit_match`` (its
token's and its address's match buckets). This bench runs those two calls
``--calls`` times over ``--keys`` clients, limits high enough that nobody is
refused, and prints the microseconds of CPU per request, for:

- this checkout, buckets in the shared file ``rate-limits`` (as a node runs);
- this checkout, buckets in the process's own memory (no file);
- ``--baseline COMMIT`` as that commit's node runs them, if given.

Each column is a child process of its own; the columns take turns,
``--rounds`` times. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import inspect
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from baseline import child_output, unpacked

PLENTY = 10**9
"""Requests per minute: a limit nobody reaches here."""


def measure(calls: int, keys: int, shared: Path | None) -> None:
    """Print the CPU microseconds per request, as JSON."""
    from mme_node.security.ratelimit import AccessLimits

    # An older version's per_minute takes no file: its buckets are always in memory.
    takes_file = "shared" in inspect.signature(AccessLimits.per_minute).parameters
    limits = (
        AccessLimits.per_minute(PLENTY, PLENTY, shared)
        if takes_file
        else AccessLimits.per_minute(PLENTY, PLENTY)
    )
    clients = [(f"peer-{k}", f"10.0.{k // 256}.{k % 256}", f"token-{k}") for k in range(keys)]
    started = time.process_time()
    for number in range(calls):
        client, address, token = clients[number % keys]
        limits.check_caller(address, token)
        limits.admit_match(client, address)
    print(json.dumps({"us": (time.process_time() - started) / calls * 1e6}))


def run(tree: Path | None, calls: int, keys: int, shared: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="ratelimit-bench-") as directory:
        where = str(Path(directory) / "rate-limits") if shared else "-"
        printed = child_output(tree, __file__, "--measure", str(calls), str(keys), where)
    microseconds: float = json.loads(printed)["us"]
    return microseconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="a commit to compare with")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        calls, keys, where = args.measure
        measure(int(calls), int(keys), None if where == "-" else Path(where))
        return
    print(
        f"{datetime.date.today()}: {args.calls} requests over {args.keys} clients per run, "
        f"{args.rounds} rounds; load average {os.getloadavg()[0]:.2f} at the start"
    )
    with contextlib.ExitStack() as stack:
        columns: list[tuple[str, Path | None, bool]] = [
            ("this, shared file", None, True),
            ("this, in memory", None, False),
        ]
        if args.baseline:
            columns.append((args.baseline, stack.enter_context(unpacked(args.baseline)), False))
        runs: dict[str, list[float]] = {label: [] for label, _, _ in columns}
        for _ in range(args.rounds):
            for label, tree, shared in columns:
                runs[label].append(run(tree, args.calls, args.keys, shared))
    print("CPU per request (check_caller + admit_match): median (each run)")
    for label, figures in runs.items():
        each = ", ".join(f"{figure:.2f}" for figure in figures)
        print(f"  {statistics.median(figures):6.2f} us ({each})  {label}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
