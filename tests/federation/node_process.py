"""A real ``mme-node serve`` process on 127.0.0.1, set up through the ``mme-node`` command line.

Each node has its own data directory (its own SQLite file and ``peers.toml``);
all of them share one compiled HPO release through ``MME_HPO_DIR_OVERRIDE``,
so no node compiles the ontology again. A node listens on a port the system
picks (``MME_PORT=0``), read back from the server's log: no other process can
take the port between choosing and binding it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx

START_TIMEOUT = 120.0
"""Liveness only: on a busy machine loading the HPO release alone can take tens of seconds."""
STOP_TIMEOUT = 10.0
LISTENING = re.compile(r"(?:Uvicorn|mme-node \S+ is) running on http://127\.0\.0\.1:(\d+)")


class NodeProcess:
    """One node: ``cli`` runs ``mme-node`` commands against it, ``start``/``stop`` the server."""

    def __init__(
        self, name: str, root: Path, hpo_dir: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.root = root
        self.url = ""  # known once the server has started
        self.env = {
            "MME_DATA_DIR": str(root / "data"),
            "MME_PORT": "0",
            "MME_HPO_DIR_OVERRIDE": str(hpo_dir),
            "MME_WORKERS": "1",  # one process unless a test asks for more
            **(extra_env or {}),
        }
        root.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._logged_before = 0
        self._log: IO[bytes] | None = None

    @property
    def database_path(self) -> Path:
        return self.root / "data" / "mme-node.sqlite3"

    def wait_until_filed(self, timeout: float = 30.0) -> tuple[int, int]:
        """Wait for the node's late filing to file every recorded result and audit entry
        (docs/storage.md, "Late filing"); what was still waiting when it returned."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.closing(sqlite3.connect(self.database_path)) as db:
                waiting: tuple[int, int] = db.execute(
                    "SELECT (SELECT top FROM match_ids) - (SELECT upto FROM filing_marks"
                    " WHERE name = 'match_results'), (SELECT seq FROM audit_head)"
                    " - (SELECT upto FROM filing_marks WHERE name = 'audit_log')"
                ).fetchone()
            if waiting == (0, 0) or time.monotonic() > deadline:
                return waiting
            time.sleep(0.1)

    def _command(self, *args: str) -> list[str]:
        # -P: the working directory must not shadow the installed packages.
        return [sys.executable, "-P", "-m", "mme_node.cli", *args]

    def cli(self, *args: str) -> str:
        """Run ``mme-node ARGS`` for this node; its standard output (fails on a non-zero exit)."""
        completed = subprocess.run(
            self._command(*args),
            env=self._environment(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert completed.returncode == 0, completed.stderr
        return completed.stdout

    def create_token(self, name: str, role: str) -> str:
        """``mme-node tokens create --quiet``: the new token alone."""
        return self.cli("tokens", "create", "--name", name, "--role", role, "--quiet").strip()

    def add_peer(self, name: str, url: str, token: str, timeout: float) -> None:
        # "--token=": a generated token may begin with "-", which would read as an option.
        self.cli(
            "peers", "add", name, "--url", url, f"--token={token}", "--timeout", f"{timeout:g}"
        )

    def start(self) -> None:
        """Start the server; again after :meth:`stop` (a new port, read from the new log lines)."""
        self.url = ""
        self._logged_before = len(self.log()) if self.log_path.exists() else 0
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self._command("serve"),
            env=self._environment(),
            cwd=self.root,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_until_up(self, token: str) -> None:
        """Learn the port from the log, then poll ``/heartbeat`` (it needs a peer token)."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self.url:
            self._pause_while_starting(deadline)
            if listening := LISTENING.search(self.log_since_start()):
                self.url = f"http://127.0.0.1:{listening[1]}"
        with httpx.Client(base_url=self.url, timeout=2.0) as http:
            while True:
                self._pause_while_starting(deadline)
                try:
                    if http.get("/heartbeat", headers={"X-Auth-Token": token}).status_code == 200:
                        return
                except httpx.TransportError:
                    pass

    def _pause_while_starting(self, deadline: float) -> None:
        """Wait a moment; fail with the server's log if it exited or took too long."""
        assert self._process is not None and self._process.poll() is None, (
            f"{self.name} exited during start-up:\n{self.log()}"
        )
        assert time.monotonic() < deadline, f"{self.name} did not start:\n{self.log()}"
        time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the server (uvicorn shuts down cleanly on SIGTERM) and wait for it."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_since_start(self) -> str:
        """The log of the latest :meth:`start` (the file keeps the lines of earlier ones)."""
        return self.log()[self._logged_before :]

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Auth-Token": token}, timeout=30.0)

    def _environment(self) -> dict[str, str]:
        # Only the node's own MME_* settings: none leak in from the developer's shell.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("MME_")}
        return inherited | self.env
