"""The desk's commands as plain async functions: what they read in, a report out.

`/funding` and `arb-bot funding`, `/scan` and `arb-bot scan`, `/chart` and `arb-bot chart`
call the same function here, so the bot and the terminal cannot compute different
figures; `/signal`, `/history` and `/status` are the bot's alone. Each function takes
what it reads as parameters: the market (the bot's shared snapshot, or a one-shot
`arb.market.Market` in the terminal), the history (`arb.backfill.HistoryLoader` over the
database or over memory), the signaler, the threshold that applies to the asking chat
(the caller looks it up), and returns a report: `arb.report`'s, `arb.history`'s,
`arb.signaler`'s, or one below. Nothing here knows Telegram, HTML or a terminal: the bot
renders reports to HTML (`bot.render_*`), the terminal to text and JSON (`arb.render`,
`arb.report`).

`/size` and `arb-bot size` size the asset's best carry against its legs' order books
(`arb.books`), and `/funding`'s best pair, `/signal`'s facts and the alerts' capacity
floor size it through `size_opportunity`: one function, `arb.depth.size_carry`, behind
every capacity and net APR at a size.

Every command that names an asset's best pair takes it from the snapshot it answers
from (`arb.carry.carry_in`), at the snapshot's time.

`/risk` and `arb-bot risk` read the desk's accounts (`arb.accounts.service.AccountService`,
each venue's failure kept to itself) beside the market and assess them (`arb.risk`);
`key_access` asks each venue what its key may do (the bot's start-up check and /status).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from arb.accounts.models import KeyAccess
from arb.books import OrderBooks, SizeParams
from arb.carry import carry_in
from arb.depth import size_carry
from arb.market import MarketSnapshot, VenueHealth
from arb.models import HOUR_S, Opportunity
from arb.report import (
    FundingReport,
    ScanReport,
    SizeReport,
    Sizing,
    funding_report,
    scan_report,
)
from arb.risk import RiskParams, RiskReport, assess
from arb.spread import ScanParams
from arb.symbols import normalize_asset

if TYPE_CHECKING:  # at run time only where used: the terminal starts without them
    from arb.accounts.service import AccountService
    from arb.backfill import HistoryLoader, HistorySource
    from arb.history import HistoryReport, PairStats, Pending
    from arb.signaler import Signal, Signaler
    from arb.trading.engine import Plan, Trader

DEFAULT_THRESHOLD_8H = 0.0005  # what /chart and /history measure against without an alert
RECORD_WINDOWS_H = (24.0, 168.0)  # the pair's record a signal is given


class MarketView(Protocol):
    """The market a command answers from: the bot's `Desk`, the terminal's `Market`."""

    @property
    def clock(self) -> Callable[[], float]: ...

    async def snapshot(self) -> MarketSnapshot: ...


class MarketHealth(Protocol):
    """What /status reads of the market: `arb.service.MarketService`."""

    @property
    def clock(self) -> Callable[[], float]: ...

    def health(self) -> Sequence[VenueHealth]: ...

    def age_s(self) -> float | None: ...


class StorageState(Protocol):
    """Whether the database takes writes: `storage.health.StorageHealth`."""

    @property
    def failing(self) -> bool: ...

    @property
    def cause(self) -> str | None: ...

    @property
    def failing_since(self) -> float | None: ...

    @property
    def last_write_at(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class ChartReport:
    """One asset's funding per venue over a window, drawn, and the figures under it."""

    asset: str
    window: str  # a key of arb.history.WINDOWS_H
    start: float
    now: float
    points: dict[str, int]  # stored or settled points per venue in the window (not live)
    png: bytes | None  # None: no stored or settled point in the window, so no chart
    best: Opportunity | None  # the pair /funding and /scan name now, shaded on the chart
    stats: PairStats | None  # the best pair over the window (None: no chart or no pair)
    pending: Pending | None  # what the best pair's intervals in progress will pay
    threshold_8h: float  # what `stats.share_above` measures against
    errors: tuple[str, ...]  # venues whose history could not be fetched, and why


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Venue health (with each live feed's state) and storage, as /status shows them."""

    health: tuple[VenueHealth, ...]
    now: float
    uptime_s: float
    version: str
    snapshot_age_s: float | None  # since the data last changed
    interval_s: float  # between REST refreshes
    storage: StorageState | None = None
    held_alerts: int = 0  # crossings held while storage refuses writes
    keys: tuple[KeyAccess, ...] = ()  # what each venue's key may do, read at start


MAX_NOTIONAL_USD = 1e9
_SUFFIXES = {"k": 1e3, "m": 1e6}


def parse_notional(text: str) -> float:
    """'50000', '50k', '$50,000', '1.5M' -> USD per leg. Raises ValueError with one line."""
    raw = text.strip().lower().removeprefix("$").replace(",", "").replace("_", "")
    scale = _SUFFIXES.get(raw[-1:], 1.0)
    if scale != 1.0:
        raw = raw[:-1]
    try:
        value = float(raw) * scale
    except ValueError:
        value = math.nan
    if not 1.0 <= value <= MAX_NOTIONAL_USD:  # also NaN
        raise ValueError(
            f"a notional is a USD amount per leg from $1 to ${MAX_NOTIONAL_USD:,.0f}, "
            "such as 50000 or 50k"
        )
    return value


async def size_opportunity(books: OrderBooks, o: Opportunity, params: SizeParams) -> Sizing:
    """The carry `o` at `params.notional_usd` per leg on its legs' books now: the one
    sizing /size, /funding, /signal and the alerts show."""
    long, short = await books.pair(o)
    if long.book is None or short.book is None:
        failed = tuple(leg for leg in (long, short) if leg.book is None)
        return Sizing(o, params, None, failed)
    sized = size_carry(o, long.book, short.book, params.notional_usd, params.max_slippage_bps)
    return Sizing(o, params, sized)


async def size(
    market: MarketView,
    books: OrderBooks,
    asset: str,
    params: ScanParams,
    size_params: SizeParams,
    notional_usd: float | None = None,
) -> SizeReport:
    """The asset's best carry at `notional_usd` per leg (default: the desk's notional),
    with each leg's slippage, the net APR and break-even at that size, and the capacity
    within the slippage allowed. Raises ValueError when `asset` cannot be an asset name."""
    snapshot = await market.snapshot()
    carry = carry_in(snapshot, asset, params)
    if notional_usd is not None:
        size_params = replace(size_params, notional_usd=notional_usd)
    sizing = None
    if carry.best is not None:
        sizing = await size_opportunity(books, carry.best, size_params)
    return SizeReport(
        carry.asset,
        size_params,
        carry.best,
        carry.left_out,
        sizing,
        snapshot.health,
        snapshot.taken_at,
    )


@dataclass(frozen=True, slots=True)
class OpenPreview:
    """/open: the asset's best carry between the venues the desk trades, sized as /size
    sizes it, and the trade that would put it on; or why there is none."""

    asset: str
    plan: Plan | None
    sizing: Sizing | None = None
    reason: str | None = None  # set when `plan` is None


async def open_preview(
    market: MarketView,
    books: OrderBooks,
    trader: Trader,
    asset: str,
    params: ScanParams,
    size_params: SizeParams,
    notional_usd: float | None = None,
) -> OpenPreview:
    """The trade /open would send for `asset` at `notional_usd` per leg (default: the
    desk's notional). Raises ValueError when `asset` cannot be an asset name."""
    from arb.carry import best_carry

    snapshot = await market.snapshot()
    name = normalize_asset(asset)
    quotes = [q for q in snapshot.for_asset(name) if q.venue in trader.venues]
    carry = best_carry(name, quotes, params, snapshot.taken_at)
    if carry.best is None:
        where = ", ".join(trader.venues) or "none"
        reason = f"no {name} carry between the venues traded ({where})"
        # The venues that list the asset but take no orders here, and why.
        left_out = {q.venue for q in snapshot.for_asset(name)} - set(trader.venues)
        reason += "".join(
            f"; {v} takes no orders here: {trader.unavailable.get(v, 'no order path')}"
            for v in sorted(left_out)
        )
        return OpenPreview(name, None, reason=reason)
    if notional_usd is not None:
        size_params = replace(size_params, notional_usd=notional_usd)
    sizing = await size_opportunity(books, carry.best, size_params)
    if sizing.sized is None:
        failed = "; ".join(f"{leg.venue}: {leg.error}" for leg in sizing.failed)
        return OpenPreview(name, None, sizing, f"no order book: {failed}")
    return OpenPreview(name, await trader.plan_open(sizing.sized), sizing)


async def close_preview(trader: Trader, asset: str) -> Plan | None:
    """The trade /close would send to take `asset`'s book off; None when none is held.
    Raises ValueError when `asset` cannot be an asset name."""
    return await trader.plan_close(normalize_asset(asset))


async def funding(market: MarketView, asset: str, params: ScanParams) -> FundingReport:
    """Every venue's funding for one asset and its best carry, with the legs left out and
    why. Raises ValueError when `asset` cannot be an asset name."""
    return funding_report(await market.snapshot(), asset, params)


async def scan(market: MarketView, params: ScanParams, top: int | None = None) -> ScanReport:
    """The market's carry ranked (each asset's best pair, or every pair when
    `params.best_per_asset` is off), the first `top` of it."""
    return scan_report(await market.snapshot(), params, top)


async def signal(
    market: MarketView,
    history: HistorySource,
    signaler: Signaler,
    asset: str,
    params: ScanParams,
    *,
    chat_id: int | None = None,
    books: OrderBooks | None = None,
    size_params: SizeParams | None = None,
) -> Signal | None:
    """The signaler's verdict on the asset's best carry, given the pair's stored record
    over the last 24 h and 7 d and, with `books`, the carry at the desk's notional;
    None when no fresh pair passes the filters."""
    from arb.history import pair_stats  # here: `arb-bot scan` starts without the history

    name = normalize_asset(asset)
    best = carry_in(await market.snapshot(), name, params).best
    if best is None:
        return None
    now = market.clock()
    stored = await history.series(name, now - max(RECORD_WINDOWS_H) * HOUR_S, now)
    record = tuple(
        pair_stats(stored, best.long_venue, best.short_venue, now, hours, best.spread_8h)
        for hours in RECORD_WINDOWS_H
    )
    sized = None
    if books is not None:
        sized = (await size_opportunity(books, best, size_params or SizeParams())).sized
    from arb.signaler import Facts  # here: `arb-bot scan` starts without the signaler

    return await signaler.signal(Facts(best, now, record, sized), chat_id=chat_id)


async def chart(
    market: MarketView,
    loader: HistoryLoader,
    asset: str,
    window: str,
    params: ScanParams,
    threshold_8h: float | None = None,
) -> ChartReport | None:
    """Each venue's funding over the window (a key of WINDOWS_H) as a PNG, backfilled where
    the record is short, with the best pair's figures over it; None when no venue lists
    the asset. Without any stored or settled point in the window there is no PNG."""
    from arb.chart import render_chart  # here: only `chart` draws or reads the history
    from arb.history import WINDOWS_H, pair_stats, pending_carry, recorded_points

    name = normalize_asset(asset)
    snapshot = await market.snapshot()
    quotes = snapshot.for_asset(name)
    if not quotes:
        return None
    now = market.clock()
    start = now - WINDOWS_H[window] * HOUR_S
    history, errors = await loader.load(name, quotes, start, now)
    best = carry_in(snapshot, name, params).best
    threshold = DEFAULT_THRESHOLD_8H if threshold_8h is None else threshold_8h
    points = recorded_points(history, start, now)
    report = ChartReport(
        name, window, start, now, points, None, best, None, None, threshold, tuple(errors)
    )
    if not any(points.values()):
        return report
    pair = (best.long_venue, best.short_venue) if best else None
    # In a worker thread: the event loop keeps answering while matplotlib draws.
    png = await asyncio.to_thread(render_chart, name, history, start, now, window, pair)
    if best is None:
        return replace(report, png=png)
    long, short = best.long_venue, best.short_venue
    return replace(
        report,
        png=png,
        stats=pair_stats(history, long, short, now, WINDOWS_H[window], threshold),
        pending=pending_carry(history, long, short, now),
    )


async def history(
    market: MarketView,
    loader: HistoryLoader,
    asset: str,
    params: ScanParams,
    threshold_8h: float | None = None,
) -> HistoryReport | None:
    """Every venue pair of the asset over 24 h, 7 d and 30 d, backfilled where the record
    is short; None when fewer than two venues list the asset."""
    from arb.history import WINDOWS_H, history_report  # here: `arb-bot scan` starts without

    name = normalize_asset(asset)
    snapshot = await market.snapshot()
    quotes = snapshot.for_asset(name)
    if len({q.venue for q in quotes}) < 2:
        return None
    now = market.clock()
    start = now - max(WINDOWS_H.values()) * HOUR_S
    history, errors = await loader.load(name, quotes, start, now)
    best = carry_in(snapshot, name, params).best
    threshold = DEFAULT_THRESHOLD_8H if threshold_8h is None else threshold_8h
    return history_report(name, history, quotes, best, now, threshold, errors)


async def status(
    market: MarketHealth,
    *,
    started_at: float,
    version: str,
    interval_s: float,
    storage: StorageState | None = None,
    held_alerts: int = 0,
    keys: Sequence[KeyAccess] = (),
) -> StatusReport:
    """Each venue's data age, quote count and last error, the live feeds, storage, the
    alerts it holds and what the desk's keys may do, now."""
    now = market.clock()
    return StatusReport(
        health=tuple(market.health()),
        now=now,
        uptime_s=now - started_at,
        version=version,
        snapshot_age_s=market.age_s(),
        interval_s=interval_s,
        storage=storage,
        held_alerts=held_alerts,
        keys=tuple(keys),
    )


async def risk(
    accounts: AccountService, market: MarketView, params: RiskParams, now: float | None = None
) -> RiskReport:
    """Every book's and account's risk now: positions, balances and the market read at
    once; a venue that cannot be read is named with its reason, the others assessed."""
    positions, balances, snapshot = await asyncio.gather(
        accounts.positions(), accounts.balances(), _snapshot_or_none(market)
    )
    errors = {**balances.errors, **positions.errors}  # a failed positions read says most
    taken = market.clock() if now is None else now
    if snapshot is None:  # no market: the books still show, without their carry
        snapshot = MarketSnapshot((), (), taken)
    return assess(positions.items, balances.items, errors, snapshot, params, taken)


async def key_access(
    accounts: AccountService, deadline_s: float | None = None
) -> dict[str, KeyAccess]:
    """What each venue's key may do, by venue; unknown (with why) where it cannot be read."""
    return await accounts.key_access(deadline_s)


def key_states(keyed: Sequence[str], read: Mapping[str, KeyAccess]) -> list[KeyAccess]:
    """What each keyed venue's key may do, as read at start (unknown until it is)."""
    unread = "not read yet"
    return [read.get(v) or KeyAccess(v, None, None, unread) for v in keyed]


async def _snapshot_or_none(market: MarketView) -> MarketSnapshot | None:
    try:
        return await market.snapshot()
    except TimeoutError:
        return None
