"""What every fake venue account shares: its own server clock, and a log of refusals."""

from __future__ import annotations

import time


class FakeAccountClock:
    """The fake venue's clock is the real one plus `skew_ms`; tests move it to simulate a
    drifting server. Refused signed requests are logged (by venue code) in `refusals`."""

    skew_ms: int
    refusals: list

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.skew_ms

    def clock_at(self, ms: int) -> None:
        """Set `skew_ms` so that this server's clock reads `ms` now."""
        self.skew_ms = ms - int(time.time() * 1000)

    @property
    def refused(self) -> int:
        return len(self.refusals)


class Sleeps:
    """A client's pacing between pages, recorded instead of waited."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
