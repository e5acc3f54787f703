"""An asset's funding history over a window: the record, backfilled from the venues.

`HistoryLoader.load` reads the record (`HistorySource`) and, for each venue whose
record does not reach back to the window's start, first fetches the venue's settled
funding over the window (`arb.history.fetch_settled`) and keeps it in the record.
The live quotes end the series (`arb.history.with_live`).

The bot's record is the database (`storage.history.HistoryStore`: its scans and what
earlier backfills kept); the terminal's is `VenueHistory`, empty at start and kept in
memory for one run, so `arb-bot chart` draws the venues' own history and `/chart` the
same history plus what the bot stored. Both go through this one loader.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from arb.history import fetch_settled, with_live
from arb.models import HOUR_S, Point, Quote
from arb.venues.base import VenueClient

BACKFILL_DEADLINE_S = 15.0  # per venue: a reply waits no longer for a slow history endpoint
BACKFILL_RETRY_S = 3600.0  # a venue with no older data is not asked again for an hour
SERIES_LEAD_S = 8 * HOUR_S  # a point can hold up to 8 h into the window


Row = tuple[str, str, Point]  # (asset, venue, point)


class HistorySource(Protocol):
    """Where the history lives: the database in the bot, memory in the terminal."""

    async def earliest(self, asset: str) -> Mapping[str, float]:
        """Each venue's earliest point time for `asset`."""
        ...

    async def series(self, asset: str, start: float, end: float) -> Mapping[str, Sequence[Point]]:
        """Each venue's points for `asset` in force at some time in [start, end], by time."""
        ...

    async def save_settled(self, rows: Iterable[Row]) -> int:
        """Keep the venues' settled rates; a point already held at that time stays."""
        ...


class VenueHistory:
    """A `HistorySource` in memory, for one run of the terminal: no database."""

    def __init__(self) -> None:
        self._points: dict[str, dict[str, dict[float, Point]]] = {}  # asset -> venue -> at

    async def earliest(self, asset: str) -> dict[str, float]:
        return {v: min(by_at) for v, by_at in self._points.get(asset, {}).items() if by_at}

    async def series(self, asset: str, start: float, end: float) -> dict[str, list[Point]]:
        out = {}
        for venue, by_at in self._points.get(asset, {}).items():
            held = [p for at, p in sorted(by_at.items()) if start - SERIES_LEAD_S <= at <= end]
            if held:
                out[venue] = held
        return out

    async def save_settled(self, rows: Iterable[Row]) -> int:
        n = 0
        for asset, venue, p in rows:
            self._points.setdefault(asset, {}).setdefault(venue, {}).setdefault(p.at, p)
            n += 1
        return n


@dataclass
class Backfills:
    """When each (asset, venue) was last backfilled, and from how far back."""

    tried: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def due(self, asset: str, venue: str, start: float, now: float) -> bool:
        last = self.tried.get((asset, venue))
        return last is None or last[0] > start or now - last[1] > BACKFILL_RETRY_S

    def done(self, asset: str, venue: str, start: float, now: float) -> None:
        self.tried[(asset, venue)] = (start, now)


@dataclass
class HistoryLoader:
    """The record, the venue clients that backfill it, and when each was last asked."""

    source: HistorySource
    clients: Mapping[str, VenueClient]
    deadline_s: float = BACKFILL_DEADLINE_S
    backfills: Backfills = field(default_factory=Backfills)

    async def load(
        self, asset: str, quotes: Sequence[Quote], start: float, now: float
    ) -> tuple[dict[str, list[Point]], list[str]]:
        """The asset's history over [start, now], backfilled where needed, ending with the
        live quotes. Returns it with the venues' backfill errors."""
        earliest = await self.source.earliest(asset)
        need = [
            q
            for q in quotes
            if earliest.get(q.venue, math.inf) > start + max(q.interval_h, 1.0) * HOUR_S
            and self.backfills.due(asset, q.venue, start, now)
        ]
        errors: dict[str, str] = {}
        if need:
            rows, errors = await fetch_settled(self.clients, need, start, now, self.deadline_s)
            await self.source.save_settled(rows)
            for q in need:
                if q.venue not in errors:
                    self.backfills.done(asset, q.venue, start, now)
        history = with_live(await self.source.series(asset, start, now), quotes)
        return history, list(errors.values())
