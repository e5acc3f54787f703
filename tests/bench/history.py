"""Funding history benchmarks: a month of a 2,000-quote market in SQLite.

1. Storage: rows and file size for 30 days of 500 assets on 4 venues (one row per
   venue, asset and funding interval: 8 h for 60 % of symbols, 4 h for 25 %, 1 h for
   the rest and for Hyperliquid), and the time to write them as the recorder does.
2. `/history`: reading one asset's 30 days and computing every pair's figures.
3. `/chart`: drawing 30 days of 4 venues to PNG.
4. Pruning one day of rows.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time

from arb.chart import render_chart
from arb.history import HOUR_S, Point, history_report
from arb.models import Quote
from storage.db import Database
from storage.history import HistoryStore

ASSETS, VENUES, DAYS = 500, ("binance", "bybit", "okx", "hyperliquid"), 30
NOW = 1_789_012_800.0  # a whole 8 h boundary


def interval_of(rng: random.Random, venue: str) -> float:
    if venue == "hyperliquid":
        return 1.0
    return rng.choices((8.0, 4.0, 1.0), weights=(60, 25, 15))[0]


def month_of_rows(seed: int = 5) -> list[list[tuple[str, str, Point]]]:
    """Rows grouped by hour, as the recorder would write them over the month."""
    rng = random.Random(seed)
    legs = [(f"A{i}", v, interval_of(rng, v)) for i in range(ASSETS) for v in VENUES]
    by_hour: list[list[tuple[str, str, Point]]] = []
    start = NOW - DAYS * 24 * HOUR_S
    for h in range(DAYS * 24):
        t = start + h * HOUR_S
        by_hour.append(
            [
                (a, v, Point(t, rng.gauss(0.00001, 0.00002), iv))
                for a, v, iv in legs
                if h % int(iv) == 0
            ]
        )
    return by_hour


async def bench_history() -> None:
    print("\n== funding history: 30 days, 500 assets x 4 venues ==")
    hours = month_of_rows()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "h.db")
        db = await Database.open(path)
        store = HistoryStore(db)
        started = time.perf_counter()
        for rows in hours:
            await store.save(rows)
        wrote = time.perf_counter() - started
        rows = await store.count()
        await db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size_mb = os.path.getsize(path) / 1e6
        print(f"rows stored             {rows:,}")
        print(f"database size           {size_mb:.1f} MB")
        print(
            f"write time, 720 hours   {wrote:.2f} s ({wrote / len(hours) * 1000:.1f} ms per hour)"
        )

        quotes = [
            Quote(v, "A7", f"A7-{v}", 0.0001 * (i + 1), 8.0, None, 1.0, 1e9, None, NOW)
            for i, v in enumerate(VENUES)
        ]
        reads = []
        for _ in range(20):
            t0 = time.perf_counter()
            history = await store.series("A7", NOW - DAYS * 24 * HOUR_S, NOW)
            history_report("A7", history, quotes, None, NOW, 0.0005)
            reads.append((time.perf_counter() - t0) * 1000)
        print(f"/history read + figures p50 {statistics.median(reads):.1f} ms, "
              f"max {max(reads):.1f} ms")  # fmt: skip

        charts = []
        png = b""
        for _ in range(5):
            t0 = time.perf_counter()
            png = render_chart("A7", history, NOW - DAYS * 24 * HOUR_S, NOW, "30d",
                               ("binance", "okx"))  # fmt: skip
            charts.append((time.perf_counter() - t0) * 1000)
        print(f"/chart 30d render       p50 {statistics.median(charts):.0f} ms "
              f"(first {charts[0]:.0f} ms), PNG {len(png) / 1000:.0f} KB")  # fmt: skip

        t0 = time.perf_counter()
        dropped = await store.prune(before=NOW - (DAYS - 1) * 24 * HOUR_S)
        print(f"prune one day           {dropped:,} rows in "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")  # fmt: skip
        await db.close()


def main() -> None:
    asyncio.run(bench_history())
