"""Headless Debian Chromium driven by Playwright, or a visible reason why not.

Playwright's own browser download cannot work on these machines, so the
tests use the system's ``/usr/bin/chromium`` (``apt-get install -y
chromium``). Without it the browser tests are skipped with that reason,
unless ``REQUIRE_BROWSER_TESTS`` is set (``.ci/run`` sets it): then a missing
browser fails the run instead of silently testing less.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
REQUIRED = "REQUIRE_BROWSER_TESTS"


def chromium_executable() -> str:
    """The Chromium to drive; skips (or fails, when required) if there is none."""
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found:
        return found
    reason = f"Debian chromium is not installed ({CHROMIUM}): apt-get install -y chromium"
    if os.environ.get(REQUIRED):
        pytest.fail(f"{reason}; {REQUIRED} is set, so the browser tests must run")
    pytest.skip(reason)
