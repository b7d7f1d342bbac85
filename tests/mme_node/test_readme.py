"""The README's first steps work when pasted in order, against a real server.

The run command of "Quick start" and the block of "First steps" are read from
README.md and run as written, with three substitutions a test needs: the
venv's ``bin`` is the one running this test (no second install), the server
listens on a port the system picks (``MME_PORT=0``, read back from its
banner) which replaces ``localhost:8000``, and the data dir, HOME and HPO
cache are temporary. Nothing else is changed, so a README edit that breaks
the steps breaks this test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BANNER = re.compile(r"mme-node \S+ is running on http://127\.0\.0\.1:(\d+)")
START_TIMEOUT = 120.0


def shell_block(section: str) -> str:
    """The first ```sh block after the README heading ``## {section}``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split(f"\n## {section}\n", 1)[1]
    found = re.search(r"```sh\n(.*?)```", after, flags=re.S)
    assert found, f"no sh block under ## {section}"
    return found.group(1)


def with_this_venv(command: str) -> str:
    return command.replace(".venv/bin/", f"{Path(sys.executable).parent}/")


def json_documents(text: str) -> list[Any]:
    """Every JSON document in ``text``, in order (curl prints them back to back)."""
    decoder = json.JSONDecoder()
    documents, position = [], 0
    while (start := text.find("{", position)) != -1:
        document, position = decoder.raw_decode(text, start)
        documents.append(document)
    return documents


@pytest.fixture
def environment(tmp_path: Path, shared_hpo_dir: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MME_", "XDG_"))}
    return inherited | {
        "HOME": str(tmp_path / "home"),
        "MME_DATA_DIR": str(tmp_path / "data"),
        "MME_HPO_DIR_OVERRIDE": str(shared_hpo_dir),
        "MME_PORT": "0",
    }


@pytest.fixture
def server(tmp_path: Path, environment: dict[str, str]) -> Iterator[tuple[int, str]]:
    """The Quick start's run command, serving; yields its port and its banner."""
    steps = shell_block("Quick start").strip().split(" && ")
    assert steps[0].startswith("python3 -m venv .venv") and "pip install" in steps[1], steps
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["bash", "-c", with_this_venv(steps[-1])],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (found := BANNER.search(log.read_text(errors="replace"))):
            assert process.poll() is None, f"the server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no banner:\n{log.read_text()}"
            time.sleep(0.1)
        time.sleep(0.2)  # the banner's remaining lines
        yield int(found.group(1)), log.read_text(errors="replace")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's first steps use curl")
def test_the_readme_first_steps_work_as_written(
    server: tuple[int, str], environment: dict[str, str], tmp_path: Path
) -> None:
    port, banner = server
    assert f"data dir     {tmp_path / 'data'}" in banner
    assert "/openapi.json" in banner
    assert "tokens create --name my-clinic --role submitter --quiet" in banner
    assert "test patients" in banner

    script = with_this_venv(shell_block("First steps")).replace(
        "localhost:8000", f"localhost:{port}"
    )
    completed = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr

    submitted, matched = json_documents(completed.stdout)
    assert submitted["patient"]["id"] == "case-1"
    results = matched["results"]
    assert results, "the README's case found none of the demo patients"
    assert "NGLY1" in results[0]["explanation"]["sharedGenes"]
