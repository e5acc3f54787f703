"""What a slow `arb-bot` command is waiting for, on stderr, only when stderr is a terminal.

A venue that never answers costs up to ARB_VENUE_DEADLINE_S (30 s). Rather than 30 s of
silence, a person at a terminal sees which venues were asked, each one as it answers or
fails, and, rewritten in place every second, which are still awaited:

    asking 3 venues: alpha, beta, gamma
      alpha: 412 quotes in 0.3 s
      beta: failed: /v1/tickers: connection failed: DNS lookup failed for api.beta.example
    waiting for gamma (12 s)…

Piped or redirected (scripts, CI, the tests' subprocesses) it writes nothing: stdout
and stderr stay exactly what they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from arb.market import VenueHealth

CLEAR = "\r\x1b[K"  # back to the line's start and erase it


class Progress:
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.every_s = every_s
        self.clock = clock
        self.pending: list[str] = []
        self._started = clock()
        self._status_shown = False  # a "waiting…" line is on screen, to be overwritten
        self._ticker: asyncio.Task[None] | None = None

    def asking(self, venues: Sequence[str]) -> None:
        """The command asks these venues now; the ticker starts."""
        if not self.enabled:
            return
        self.pending = list(venues)
        self._started = self.clock()
        n = len(self.pending)
        self._line(f"asking {n} venue{'s' if n != 1 else ''}: {', '.join(self.pending)}")
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def fetched(self, h: VenueHealth) -> None:
        """One venue's fetch ended: it answered or failed, and why."""
        if not self.enabled:
            return
        if h.venue in self.pending:
            self.pending.remove(h.venue)
        if h.ok:
            self._line(f"  {h.venue}: {h.quote_count} quotes in {h.elapsed_s:.1f} s")
        else:
            why = (h.last_error or "unknown error").removeprefix(h.venue + ": ")
            self._line(f"  {h.venue}: failed: {why.removeprefix(h.venue + ' ')}")

    def waiting_line(self) -> str:
        secs = self.clock() - self._started
        if self.pending:
            return f"waiting for {', '.join(self.pending)} ({secs:.0f} s)…"
        return f"still working ({secs:.0f} s)…"

    async def close(self) -> None:
        """Stop the ticker and leave no half-written line behind."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._status_shown:
            self._write(CLEAR)
            self._status_shown = False

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            self._write(CLEAR + self.waiting_line())
            self._status_shown = True

    def _line(self, text: str) -> None:
        self._write((CLEAR if self._status_shown else "") + text + "\n")
        self._status_shown = False

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed terminal ends nothing
            self.stream.write(text)
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
