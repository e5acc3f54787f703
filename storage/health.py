"""Whether the database takes writes: set by every operation, read by /status and the alerts.

A failed read or write marks storage failing; only a write that commits clears
it, so a database that still answers reads but refuses writes (read-only, disk
full) stays "failing" until it really works again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class StorageHealth:
    clock: Callable[[], float] = field(default=time.time, repr=False)
    failing: bool = False
    cause: str | None = None  # one line: what is wrong
    failing_since: float | None = None
    last_write_at: float | None = None  # the last write that committed
    failures: int = 0  # operations that failed since it started failing
    errors: int = 0  # operations that failed since the start (the ops metrics count them)

    def failed(self, cause: str) -> None:
        if not self.failing:
            self.failing, self.failing_since, self.failures = True, self.clock(), 0
        self.cause = cause
        self.failures += 1
        self.errors += 1

    def wrote(self) -> None:
        self.failing, self.cause, self.failing_since, self.failures = False, None, None, 0
        self.last_write_at = self.clock()
