"""Funding history as step functions: what a venue paid over time, and what a pair earned.

A `Point` says a venue's hourly funding for an asset was `hourly` from `at`
on. Stored points come from the bot's own scans (the current rate, every
ARB_HISTORY_EVERY_S) and from the venues' settled history (each settlement's
rate); both are placed at the start of the funding interval the rate pays
for, so there is one point per venue and interval: a venue charges one rate
for a whole interval, and the scan row of an interval ends up holding the
last prediction before it was paid, which is what the venue's own history
says once it has settled. A point holds until the next one, but never longer
than its funding interval (at least an hour): a gap in the record stays a
gap instead of repeating a stale rate.

The live quote is different: it is a prediction for the interval in
progress, seen at `received_at`. `with_live` adds it from then on (until the
interval ends), so a rate that changed a minute ago does not rewrite the
hours before it; the past part of the interval keeps what was stored.

Pair figures integrate exactly over these steps: the average spread is the
time-weighted mean, the share above a threshold is a share of time. Every
figure says how many hours it rests on (`covered_h`, where both legs are
known) against its window, and is `partial` under 80 % of it. The carry
`earned` counts only time both legs have been paid for (each leg pays at the
end of its interval); the interval in progress is `pending_carry`: what it
will pay if the current rates hold.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from arb.http import VenueError
from arb.models import HOUR_S, Opportunity, Point, Quote
from arb.venues.base import FundingPoint, VenueClient

KNOWN_INTERVALS_H = (1.0, 2.0, 4.0, 8.0)
WINDOWS_H = {"24h": 24.0, "7d": 168.0, "30d": 720.0}
PARTIAL_BELOW = 0.8  # a figure resting on less of its window than this is partial


Series = Sequence[Point]  # ascending by `at`
History = Mapping[str, Series]  # venue -> series, for one asset


def from_quote(q: Quote) -> Point:
    """A quote as the history stores it: at the start of the interval its rate will pay for.

    A venue's current rate is the one charged at its next funding time for the
    interval ending then, so the stored row sits where a settled rate for that
    interval would: later scans in the same interval replace it, and once
    settled the venue's history agrees with it. Without a usable next funding
    time, the point starts when the quote was received. (What is drawn and
    measured as *live* is `live_point`, from when the rate was seen.)
    """
    at = q.received_at
    end = _interval_end(q)
    if end is not None:
        at = end - q.interval_h * HOUR_S
    return Point(at, q.hourly, q.interval_h)


def live_point(q: Quote) -> Point:
    """A live quote as a point from when it was seen until its interval ends.

    The rate predicted for the interval in progress says nothing about the part
    of that interval already gone, so it starts at `received_at`. Without a
    usable next funding time it holds for one interval from then.
    """
    end = _interval_end(q)
    if end is None:
        end = q.received_at + max(q.interval_h, 1.0) * HOUR_S
    return Point(q.received_at, q.hourly, q.interval_h, ends=end)


def _interval_end(q: Quote) -> float | None:
    """The quote's next funding time in seconds, when it ends the interval in progress."""
    if q.next_funding_time is None:
        return None
    end = q.next_funding_time / 1000
    if end - q.interval_h * HOUR_S <= q.received_at < end:
        return end
    return None


def from_quotes(quotes: Iterable[Quote]) -> list[tuple[str, str, Point]]:
    """(asset, venue, point) for a scan's quotes."""
    return [(q.asset, q.venue, from_quote(q)) for q in quotes]


def with_live(history: Mapping[str, Series], quotes: Iterable[Quote]) -> dict[str, list[Point]]:
    """`history` extended by each venue's live quote from when it was seen (`live_point`).

    What the record holds from before that moment stays, the stored row of the
    interval in progress included (a scan's prediction, at most
    ARB_HISTORY_EVERY_S older than the live rate); a stored row starting at or
    after that moment gives way to it.
    """
    out = {venue: list(series) for venue, series in history.items()}
    for q in quotes:
        series = out.setdefault(q.venue, [])
        live = live_point(q)
        while series and series[-1].at >= live.at:
            series.pop()
        series.append(live)
    return out


def recorded_points(history: History, start: float, end: float) -> dict[str, int]:
    """Each venue's stored or settled points (live quotes left out) in force in [start, end)."""
    out = {}
    for venue, series in history.items():
        n = 0
        for i, p in enumerate(series):
            following = series[i + 1].at if i + 1 < len(series) else p.until
            if not p.live and p.at < end and min(p.until, following) > start:
                n += 1
        out[venue] = n
    return out


def grouped(rows: Iterable[tuple[str, str, Point]]) -> dict[str, list[Point]]:
    """(asset, venue, point) rows of one asset as venue -> points in time order."""
    out: dict[str, list[Point]] = {}
    for _, venue, p in rows:
        out.setdefault(venue, []).append(p)
    return {venue: sorted(points, key=lambda p: p.at) for venue, points in out.items()}


def from_settlements(
    settled: Sequence[FundingPoint], fallback_interval_h: float, *, hourly_rates: bool = False
) -> list[Point]:
    """Settled rates as points at the start of the interval each one paid for.

    The interval of each settlement is the gap to the previous one when that
    gap is a known funding interval (venues change intervals), else the
    fallback (the symbol's current interval). For a venue that publishes hourly
    rates whatever the interval, pass `hourly_rates`.
    """
    out: list[Point] = []
    times = [p.time_ms for p in settled]
    for i, p in enumerate(settled):
        interval = fallback_interval_h
        for gap_ms in (
            times[i] - times[i - 1] if i > 0 else None,
            times[i + 1] - times[i] if i + 1 < len(times) else None,
        ):
            gap = _known_interval(gap_ms)
            if gap is not None:
                interval = gap
                break
        if hourly_rates:
            interval = 1.0
        hourly = p.rate if hourly_rates else p.rate / interval
        out.append(Point(p.time_ms / 1000 - interval * HOUR_S, hourly, interval))
    return out


def _known_interval(gap_ms: int | None) -> float | None:
    if gap_ms is None:
        return None
    hours = gap_ms / 3_600_000
    return next((h for h in KNOWN_INTERVALS_H if abs(hours - h) < 0.05), None)


def value_at(series: Series, t: float) -> float | None:
    """The hourly rate in force at `t`, or None where the record has nothing."""
    i = bisect.bisect_right(series, t, key=lambda p: p.at) - 1
    if i < 0 or t >= series[i].until:
        return None
    return series[i].hourly


def spread_steps(
    long: Series, short: Series, start: float, end: float
) -> list[tuple[float, float, float]]:
    """(from, to, short - long hourly) over [start, end], where both legs are known."""
    cuts = {start, end}
    for p in (*long, *short):
        for t in (p.at, p.until):
            if start < t < end:
                cuts.add(t)
    edges = sorted(cuts)
    steps = []
    for a, b in itertools.pairwise(edges):
        lo, hi = value_at(long, a), value_at(short, a)
        if lo is not None and hi is not None:
            steps.append((a, b, hi - lo))
    return steps


@dataclass(frozen=True, slots=True)
class PairStats:
    """One pair (long, short) over one window, by time where both legs are known."""

    window_h: float
    covered_h: float  # hours of the window where both legs are known
    avg_spread_8h: float | None  # time-weighted; None when nothing is covered
    min_spread_8h: float | None
    share_positive: float | None  # of covered time with short paying more than long
    share_above: float | None  # of covered time at or above the threshold
    earned: float  # carry of the settled covered time, fraction of notional, before fees
    settled_h: float = 0.0  # hours `earned` is over: covered and paid on both legs

    @property
    def partial(self) -> bool:
        """Resting on less than PARTIAL_BELOW of the window."""
        return self.covered_h < PARTIAL_BELOW * self.window_h - 1e-9

    def same_data(self, shorter: PairStats) -> bool:
        """Whether this window adds nothing to `shorter` (a window ending at the same
        time): every covered hour of it lies inside the shorter one, so every figure is
        the same."""
        return shorter.window_h < self.window_h and abs(self.covered_h - shorter.covered_h) < 1e-6


def paid_until(series: Series, now: float) -> float:
    """The time up to which a leg has been paid at `now`: the start of the earliest
    interval still in progress in the record (a point whose interval ends after `now`),
    else `now`."""
    return min((p.interval_start for p in series if p.until > now), default=now)


def pair_stats(
    history: History,
    long_venue: str,
    short_venue: str,
    now: float,
    window_h: float,
    threshold_8h: float,
) -> PairStats:
    start = now - window_h * HOUR_S
    long, short = history.get(long_venue, ()), history.get(short_venue, ())
    steps = spread_steps(long, short, start, now)
    covered = sum(b - a for a, b, _ in steps)
    if covered <= 0:
        return PairStats(window_h, 0.0, None, None, None, None, 0.0)
    paid = min(paid_until(long, now), paid_until(short, now))
    settled = [(a, min(b, paid), s) for a, b, s in steps if a < paid]
    area = sum((b - a) / HOUR_S * s for a, b, s in steps)
    above = sum(b - a for a, b, s in steps if s * 8 >= threshold_8h * (1 - 1e-12))
    positive = sum(b - a for a, b, s in steps if s > 0)
    return PairStats(
        window_h=window_h,
        covered_h=covered / HOUR_S,
        avg_spread_8h=area * HOUR_S / covered * 8,
        min_spread_8h=min(s for _, _, s in steps) * 8,
        share_positive=positive / covered,
        share_above=above / covered,
        earned=sum((b - a) / HOUR_S * s for a, b, s in settled),
        settled_h=sum(b - a for a, b, _ in settled) / HOUR_S,
    )


@dataclass(frozen=True, slots=True)
class Pending:
    """The pair's carry not paid yet: from `start`, up to which both legs have been paid,
    to `end`, when the later of the two intervals in progress is paid."""

    start: float
    end: float
    carry: float  # fraction of notional, before fees, if the current rates hold
    covered_h: float  # hours of [start, end] where both legs are known


def pending_carry(
    history: History, long_venue: str, short_venue: str, now: float
) -> Pending | None:
    """What the intervals in progress will pay the pair if the current rates hold.

    Each leg is taken at what it paid up to its interval in progress, then at its latest
    rate from that interval's start (a venue charges the rate at settlement for the
    whole interval) to `end`. None when a leg has no interval in progress on record.
    """
    legs = []
    for venue in (long_venue, short_venue):
        series = history.get(venue, ())
        running = [p for p in series if p.until > now]
        if not running:
            return None
        begun = min(p.interval_start for p in running)
        latest = max(running, key=lambda p: p.at)
        legs.append((series, begun, latest, max(p.until for p in running)))
    start = min(begun for _, begun, _, _ in legs)
    end = max(until for *_, until in legs)
    held = [
        [
            *(p for p in series if p.until <= begun),
            Point(begun, latest.hourly, latest.interval_h, end),
        ]
        for series, begun, latest, _ in legs
    ]
    steps = spread_steps(held[0], held[1], start, end)
    return Pending(
        start=start,
        end=end,
        carry=sum((b - a) / HOUR_S * s for a, b, s in steps),
        covered_h=sum(b - a for a, b, _ in steps) / HOUR_S,
    )


def apr_steps(series: Series, start: float, end: float) -> list[tuple[float, float | None]]:
    """(time, APR) corners for a step plot; a None value breaks the line at a gap."""
    out: list[tuple[float, float | None]] = []
    for i, p in enumerate(series):
        following = series[i + 1].at if i + 1 < len(series) else p.until
        a, b = max(p.at, start), min(p.until, following, end)
        if b <= a:
            continue
        if out and out[-1][0] < a:
            out.append((out[-1][0], None))  # the record has a gap before this point
        apr = p.hourly * 8760
        out += [(a, apr), (b, apr)]
    return out


# --- the /history report ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairHistory:
    long: str
    short: str
    windows: dict[str, PairStats]  # "24h", "7d", "30d"
    pending: Pending | None = None  # the intervals in progress, if the rates hold


@dataclass(frozen=True, slots=True)
class HistoryReport:
    asset: str
    now: float
    threshold_8h: float
    pairs: list[PairHistory]  # the best pair now first, then by 7-day average spread
    best: Opportunity | None
    errors: tuple[str, ...] = ()  # venues whose history could not be fetched, and why


def history_report(
    asset: str,
    history: History,
    quotes: Sequence[Quote],
    best: Opportunity | None,
    now: float,
    threshold_8h: float,
    errors: Sequence[str] = (),
) -> HistoryReport:
    """Every venue pair of `asset`, oriented as it would be entered now (short the higher)."""
    legs = sorted(quotes, key=lambda q: (q.hourly, q.venue))
    pairs = []
    for i, long in enumerate(legs):
        for short in legs[i + 1 :]:
            if long.venue == short.venue:
                continue
            windows = {
                name: pair_stats(history, long.venue, short.venue, now, hours, threshold_8h)
                for name, hours in WINDOWS_H.items()
            }
            pending = pending_carry(history, long.venue, short.venue, now)
            pairs.append(PairHistory(long.venue, short.venue, windows, pending))

    def order(p: PairHistory) -> tuple[bool, float]:
        is_best = best is not None and (p.long, p.short) == (best.long_venue, best.short_venue)
        week = p.windows["7d"].avg_spread_8h
        return (not is_best, -(week if week is not None else float("-inf")))

    return HistoryReport(asset, now, threshold_8h, sorted(pairs, key=order), best, tuple(errors))


# --- backfill from the venues' settled history -----------------------------------------


async def fetch_settled(
    clients: Mapping[str, VenueClient],
    quotes: Sequence[Quote],
    start: float,
    end: float,
    deadline_s: float,
) -> tuple[list[tuple[str, str, Point]], dict[str, str]]:
    """Each quote's venue history over [start, end] as rows to store, and errors by venue."""

    async def one(q: Quote) -> tuple[list[tuple[str, str, Point]], str | None]:
        client = clients.get(q.venue)
        if client is None:
            return [], None
        try:
            async with asyncio.timeout(deadline_s):
                settled = await client.funding_history(q.symbol, int(start * 1000), int(end * 1000))
        except VenueError as e:
            return [], str(e)
        except TimeoutError:
            return [], f"{q.venue}: no funding history within {deadline_s:g} s"
        points = from_settlements(settled, q.interval_h, hourly_rates=client.hourly_history)
        return [(q.asset, q.venue, p) for p in points], None

    results = await asyncio.gather(*(one(q) for q in quotes))
    rows = [row for got, _ in results for row in got]
    errors = {q.venue: err for q, (_, err) in zip(quotes, results, strict=True) if err}
    return rows, errors
