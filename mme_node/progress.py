"""A dependency-free progress bar for long command-line work.

Draws on stderr when it is a terminal and stays quiet otherwise (CI logs,
pipes), so scripted output on stdout is never mixed with bar redraws.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


class ProgressBar:
    """``with ProgressBar("importing", total=n) as bar: bar.advance(k)``.

    ``total`` may be None when the amount of work is not known in advance;
    the bar then shows a count and a rate only.
    """

    width = 30

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        min_interval: float = 0.1,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty()
        self._min_interval = min_interval
        self._started = time.monotonic()
        self._last_draw = 0.0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.finish()

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        now = time.monotonic()
        if now - self._last_draw >= self._min_interval:
            self._last_draw = now
            self._draw()

    def finish(self) -> None:
        if self._enabled:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def render(self) -> str:
        """The bar's current text (what a terminal shows)."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            return f"{self.label} [{bar}] {self.done}/{self.total} ({rate:,.0f}/s)"
        return f"{self.label} {self.done} ({rate:,.0f}/s)"

    def _draw(self) -> None:
        if self._enabled:
            self._stream.write("\r" + self.render())
            self._stream.flush()
