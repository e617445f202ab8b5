"""The progress line of ``minimize(progress=True)`` and the CLI's demo."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Evaluations, best value and evaluations per second on ``stream`` (default stderr).

    A terminal gets one line redrawn in place (at most every 0.05 s); anything else (a
    log file, a pipe) gets a plain line at every tenth of the budget, so it stays short.

    Args:
        total: The budget, in evaluations.
        enabled: ``False`` makes :meth:`update` do nothing.
        stream: Where to write.
    """

    def __init__(self, total: int, enabled: bool = True, stream: TextIO | None = None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.last_t = 0.0
        self.last_tenth = self.last_done = -1

    def update(self, done: int, best: float, final: bool = False) -> None:
        """Shows ``done`` evaluations and the best value; ``final`` ends the line."""
        if not self.enabled:
            return
        now = time.perf_counter()
        tenth = 10 * done // self.total
        if self.tty:
            if not final and now - self.last_t < 0.05:
                return
        elif (tenth <= self.last_tenth and not final) or done == self.last_done:
            return
        self.last_t, self.last_tenth, self.last_done = now, tenth, done
        rate = done / max(now - self.t0, 1e-9)
        filled = int(30 * done / self.total)
        line = (f"[{'#' * filled}{'-' * (30 - filled)}] {done:,}/{self.total:,} evals  "
                f"best {best:.6g}  {rate:,.0f} evals/s")
        self.stream.write(("\r" + line + ("\n" if final else "")) if self.tty else line + "\n")
        self.stream.flush()
