"""Command spam: nobody types more than SPAM_LIMIT commands in SPAM_WINDOW_S.

Whoever does gets one SLOW_DOWN reply and then silence, until QUIET_S seconds pass without
a command from them (each ignored command starts the quiet time again); after that they are
answered as usual. Pure, with an injected clock; the caller picks the key (the bot uses
the chat and the user, so one spammer does not silence a group) and what counts as a
command (bot.access.admit).
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

SPAM_LIMIT = 5  # commands a person may send ...
SPAM_WINDOW_S = 5.0  # ... in any this many seconds
QUIET_S = 3.0  # a spammer is answered again after this long without a command
SLOW_DOWN = (
    f"Slow down: that is more than {SPAM_LIMIT} commands in {SPAM_WINDOW_S:g} seconds. "
    f"I will answer again once you pause for {QUIET_S:g} seconds."
)
SWEEP_EVERY = 1024  # forget quiet keys once there are this many more


class Verdict(enum.Enum):
    ANSWER = "answer"
    WARN = "warn"  # this one tipped it over: say SLOW_DOWN, do nothing else
    DROP = "drop"  # throttled: no answer at all


@dataclass(slots=True)
class _State:
    times: deque[float] = field(default_factory=deque)
    quiet_until: float | None = None


@dataclass(eq=False)
class Throttle:
    """Counts each key's commands; `check(key)` says what to do with the next one."""

    limit: int = SPAM_LIMIT
    window_s: float = SPAM_WINDOW_S
    quiet_s: float = QUIET_S
    clock: Callable[[], float] = time.monotonic
    _states: dict[Hashable, _State] = field(init=False, default_factory=dict)
    _sweep_at: int = field(init=False, default=SWEEP_EVERY)

    def check(self, key: Hashable) -> Verdict:
        """Records a command from `key` now and says what to do with it."""
        now = self.clock()
        state = self._states.get(key)
        if state is None:
            if len(self._states) >= self._sweep_at:
                self._sweep(now)
            state = self._states[key] = _State()
        if state.quiet_until is not None:
            if now < state.quiet_until:
                state.quiet_until = now + self.quiet_s
                return Verdict.DROP
            state.quiet_until = None
        times = state.times
        while times and times[0] <= now - self.window_s:
            times.popleft()
        times.append(now)
        if len(times) > self.limit:
            times.clear()
            state.quiet_until = now + self.quiet_s
            return Verdict.WARN
        return Verdict.ANSWER

    def throttled(self, key: Hashable) -> bool:
        state = self._states.get(key)
        return bool(state and state.quiet_until is not None and self.clock() < state.quiet_until)

    def _sweep(self, now: float) -> None:
        def forgettable(state: _State) -> bool:
            if state.quiet_until is not None:
                return state.quiet_until <= now
            return not state.times or state.times[-1] <= now - self.window_s

        for key in [k for k, s in self._states.items() if forgettable(s)]:
            del self._states[key]
        self._sweep_at = len(self._states) + SWEEP_EVERY
