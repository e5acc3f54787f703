"""Stored funding history: compact scan snapshots and venues' settled rates, with pruning.

One row per asset, venue and funding interval: the hourly rate and the
interval, no more. A scan is kept every ARB_HISTORY_EVERY_S and replaces the
row of the interval in progress with the newer prediction, so a month of a
2,000-quote market of 8 h contracts is some 200,000 rows. Settled rates
fetched from venues to backfill an asset go in the same table, marked as
such, and never overwrite a scan's row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from arb.models import HOUR_S, Point
from storage.db import Database

log = logging.getLogger(__name__)

SCAN, SETTLED = 0, 1


class HistoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, rows: Iterable[tuple[str, str, Point]], source: int = SCAN) -> int:
        """Store (asset, venue, point) rows; returns how many were given."""
        verb = "INSERT OR REPLACE" if source == SCAN else "INSERT OR IGNORE"
        params = [(a, v, round(p.at), p.hourly, p.interval_h, source) for a, v, p in rows]
        if not params:
            return 0
        async with self.db.transaction() as conn:
            await conn.executemany(
                f"{verb} INTO funding_history (asset, venue, at, hourly, interval_h, source)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                params,
            )
        return len(params)

    async def save_settled(self, rows: Iterable[tuple[str, str, Point]]) -> int:
        """Store the venues' settled rates (a backfill): never over a scan's row."""
        return await self.save(rows, SETTLED)

    async def series(self, asset: str, start: float, end: float) -> dict[str, list[Point]]:
        """Each venue's points for `asset` that are in force at some time in [start, end]."""
        rows = await self.db.fetchall(
            "SELECT venue, at, hourly, interval_h FROM funding_history"
            " WHERE asset = ? AND at >= ? AND at <= ? ORDER BY venue, at",
            (asset, start - 8 * HOUR_S, end),  # a point can hold up to 8 h into the window
        )
        out: dict[str, list[Point]] = defaultdict(list)
        for venue, at, hourly, interval_h in rows:
            out[venue].append(Point(float(at), hourly, interval_h))
        return dict(out)

    async def earliest(self, asset: str) -> dict[str, float]:
        rows = await self.db.fetchall(
            "SELECT venue, MIN(at) FROM funding_history WHERE asset = ? GROUP BY venue", (asset,)
        )
        return {venue: float(at) for venue, at in rows}

    async def prune(self, before: float) -> int:
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM funding_history WHERE at < ?", (before,))
            return cur.rowcount

    async def count(self) -> int:
        (row,) = await self.db.fetchall("SELECT COUNT(*) FROM funding_history")
        return int(row[0])


class HistoryRecorder:
    """Keeps a scan's quotes every `every_s` and drops rows older than `keep_days`, daily."""

    PRUNE_EVERY_S = 86_400.0

    def __init__(self, store: HistoryStore, every_s: float, keep_days: float) -> None:
        self.store = store
        self.every_s = every_s
        self.keep_s = keep_days * 86_400.0
        self.last_saved = float("-inf")
        self.last_pruned = float("-inf")

    async def record(self, rows: Iterable[tuple[str, str, Point]], now: float) -> int:
        """Rows saved now (0 when not due): (asset, venue, point), e.g. a scan's quotes
        through `arb.history.from_quotes`."""
        saved = 0
        if self.every_s > 0 and now - self.last_saved >= self.every_s:
            saved = await self.store.save(rows)
            self.last_saved = now
        if now - self.last_pruned >= self.PRUNE_EVERY_S:
            dropped = await self.store.prune(before=now - self.keep_s)
            self.last_pruned = now
            if dropped:
                log.info("funding history: dropped %d rows older than the retention", dropped)
        return saved
