"""One truth for every number: /funding, /scan, /signal (arb.commands.signal) and the alerts
name the same best pair for an asset, and none of them uses a leg the filters leave out.

The property runs the real code paths on random markets (several assets on 2 to 6
venues, rates of either sign, 1/2/4/8 h intervals, stale quotes, thin legs, unknown
turnover, 1000x contracts, a venue listing an asset twice) and checks them against a
brute force over every pair of the legs that pass. The end-to-end tests ask the real bot.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb import commands
from arb.alerts import Subscription, ThresholdIndex
from arb.backfill import VenueHistory
from arb.carry import best_carry
from arb.market import MarketSnapshot
from arb.models import Opportunity, Quote
from arb.report import funding_report, scan_report
from arb.signaler import Signaler
from arb.spread import DEFAULT_TAKER_FEES, ScanParams, opportunity, rank_key, scan
from bot.alerts import Alerts, CycleReport
from tests.bot_harness import running_bot
from tests.conftest import desk_market
from tests.fakes.venues import FakeVenues, Fault
from tests.venues.bybit.fake_rest import BYBIT_TICKERS

NOW = 1_789_015_942.967
MAX_AGE_S = 300.0
MIN_TURNOVER = 500_000.0
VENUES = sorted(DEFAULT_TAKER_FEES)  # all six
ASSETS = ("BTC", "ETH", "PEPE", "WIF")
TINY_THRESHOLD_8H = math.ulp(0.0)  # any positive spread alerts


def pair_of(o: Opportunity | None) -> tuple[str, str, str, str, str] | None:
    if o is None:
        return None
    return (o.asset, o.long.venue, o.short.venue, o.long.symbol, o.short.symbol)


def stale(q: Quote) -> bool:
    return NOW - q.received_at > MAX_AGE_S


def thin(q: Quote) -> bool:
    return q.turnover_24h is not None and q.turnover_24h < MIN_TURNOVER


# --- random markets ---------------------------------------------------------------------

# Round rates often, so that equal hourly rates (ties, zero spreads) come up.
rates = st.one_of(
    st.sampled_from([-0.0003, -0.0001, 0.0, 0.0001, 0.0003]),
    st.floats(min_value=-0.003, max_value=0.003, allow_nan=False),
)
ages = st.one_of(
    st.sampled_from([0.0, MAX_AGE_S, 45.0]),
    st.floats(min_value=0.0, max_value=MAX_AGE_S),
    st.floats(min_value=MAX_AGE_S, max_value=10 * MAX_AGE_S),  # mostly stale
)
turnovers = st.one_of(
    st.none(),  # the venue gives none: it passes
    st.just(MIN_TURNOVER),
    st.floats(min_value=0.0, max_value=MIN_TURNOVER),  # thin
    st.floats(min_value=MIN_TURNOVER, max_value=1e10),
)


@st.composite
def quotes_of(draw, asset: str, venue: str, symbol: str) -> Quote:
    multiplier = draw(st.sampled_from([1.0, 1.0, 1000.0]))
    price = draw(st.one_of(st.none(), st.floats(min_value=1e-6, max_value=1e5)))
    return Quote(
        venue=venue,
        asset=asset,
        symbol=symbol,
        rate=draw(rates),
        interval_h=draw(st.sampled_from([1.0, 2.0, 4.0, 8.0])),
        next_funding_time=None,
        mark_price=None if price is None else price * multiplier,
        turnover_24h=draw(turnovers),
        open_interest_value=None,
        received_at=NOW - draw(ages),
        multiplier=multiplier,
    )


@st.composite
def markets(draw) -> list[Quote]:
    quotes = []
    for asset in draw(st.lists(st.sampled_from(ASSETS), min_size=1, max_size=4, unique=True)):
        for venue in draw(st.lists(st.sampled_from(VENUES), min_size=2, max_size=6, unique=True)):
            quotes.append(draw(quotes_of(asset, venue, f"{asset}USDT")))
            if draw(st.integers(0, 5)) == 0:  # a second listing: BTCUSDT and BTCPERP
                quotes.append(draw(quotes_of(asset, venue, f"{asset}PERP")))
    return quotes


# --- each caller's answer, through its own code path ------------------------------------


def signalled(snapshot: MarketSnapshot, params: ScanParams, asset: str):
    """The pair `/signal` judges: `arb.commands.signal` itself, rule-based, on this snapshot
    (`/chart` and `/history` take their pair the same way, `carry_in`)."""

    async def current() -> MarketSnapshot:
        return snapshot

    market = SimpleNamespace(snapshot=current, clock=lambda: NOW)
    found = asyncio.run(commands.signal(market, VenueHistory(), Signaler(None), asset, params))
    return None if found is None else found.facts.opportunity


def alerted(snapshot: MarketSnapshot, params: ScanParams) -> dict[str, Opportunity]:
    """What the bot's alert run plans (`Alerts._plan`: its pairs, then `arb.alerts.plan`)
    for one catch-all subscription with a tiny threshold, per asset."""
    alert_settings = SimpleNamespace(alert_cooldown_s=3600.0, alert_min_gap_s=900.0)
    book = SimpleNamespace(quotes_for=lambda asset: [])
    service = SimpleNamespace(book=book, clock=lambda: NOW)
    alerts = Alerts(alert_settings, service, params, None, None, None, None)  # type: ignore[arg-type]
    alerts.index = ThresholdIndex([Subscription(1, 1001, None, TINY_THRESHOLD_8H, frozenset())])
    planned = asyncio.run(alerts._plan(snapshot, None, NOW, CycleReport(started=0.0)))
    out: dict[str, Opportunity] = {}
    for delivery in planned:
        for c in delivery.crossings:
            assert c.opportunity.asset not in out, "one alert per asset and chat"
            out[c.opportunity.asset] = c.opportunity
    return out


def brute_force_best(quotes: list[Quote], params: ScanParams) -> Opportunity | None:
    """Every pair of two venues' legs that pass the filters, the highest `rank_key`."""
    usable = [q for q in quotes if not stale(q) and not thin(q)]
    pairs = [
        opportunity(a, b, params.taker_fees, params.horizon_h)
        for i, a in enumerate(usable)
        for b in usable[i + 1 :]
        if a.venue != b.venue
    ]
    return max(pairs, key=rank_key, default=None)


# --- the property -----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    markets(),
    st.floats(min_value=1.0, max_value=8760.0),
    st.one_of(st.none(), st.floats(min_value=-50.0, max_value=50.0)),
)
def test_every_caller_names_the_same_best_pair_and_never_a_left_out_leg(quotes, horizon, floor):
    params = ScanParams(
        taker_fees=DEFAULT_TAKER_FEES,
        horizon_h=horizon,
        min_turnover_24h=MIN_TURNOVER,
        max_quote_age_s=MAX_AGE_S,
    )
    snapshot = MarketSnapshot(tuple(quotes), (), NOW)
    scanned = {o.asset: o for o in scan_report(snapshot, params).opportunities}
    floored = {
        o.asset: o for o in scan_report(snapshot, replace(params, min_apr=floor)).opportunities
    }
    every_pair = scan(quotes, replace(params, best_per_asset=False), NOW)
    first_pair: dict[str, Opportunity] = {}
    for o in every_pair:
        first_pair.setdefault(o.asset, o)
    # The desk's own parameters may carry a floor: only /scan's ranking obeys it.
    desk_params = replace(params, min_apr=floor)
    alerts = alerted(snapshot, desk_params)

    for asset in {q.asset for q in quotes}:
        legs_here = [q for q in quotes if q.asset == asset]
        report = funding_report(snapshot, asset, desk_params)
        best = report.best
        # One pair, with the very same figures, whoever asks.
        assert best == brute_force_best(legs_here, params)
        assert best == scanned.get(asset)
        assert best == signalled(snapshot, desk_params, asset)
        assert best == best_carry(asset, legs_here, params, NOW).best
        assert best == first_pair.get(asset)  # --all-pairs: an asset's first is its best
        if best is not None and best.spread_8h >= TINY_THRESHOLD_8H:
            assert pair_of(alerts.get(asset)) == pair_of(best)
            assert alerts[asset] == best
        else:
            assert asset not in alerts
        # /scan's floor filters the ranking; it never picks another pair.
        if best is not None and (floor is None or best.apr_net >= floor):
            assert floored[asset] == best
        else:
            assert asset not in floored

        # Every leg is shown; exactly the stale and thin ones are left out, with why.
        assert sorted(report.quotes, key=id) == sorted(legs_here, key=id)
        left = {(x.quote.venue, x.quote.symbol): x.reason for x in report.left_out}
        assert set(left) == {(q.venue, q.symbol) for q in legs_here if stale(q) or thin(q)}
        for q in legs_here:
            reason = left.get((q.venue, q.symbol))
            if stale(q):
                assert reason is not None and reason.startswith("data ") and reason.endswith(" old")
            elif thin(q):
                assert reason is not None and reason.endswith(" under the $500K minimum")
                assert reason.startswith("24h turnover $")
        if best is not None:
            for leg in (best.long, best.short):
                assert (leg.venue, leg.symbol) not in left
                assert not stale(leg) and not thin(leg)


def leg(venue: str, asset: str, rate: float, **kw) -> Quote:
    fields = dict(
        venue=venue,
        asset=asset,
        symbol=f"{asset}-{venue}",
        rate=rate,
        interval_h=8.0,
        next_funding_time=None,
        mark_price=1.0,
        turnover_24h=1e9,
        open_interest_value=None,
        received_at=NOW,
    )
    return Quote(**{**fields, **kw})


def test_the_scan_ranks_across_assets_and_each_entry_is_its_assets_best_carry():
    quotes = [
        leg("bybit", "HOT", 0.003),
        leg("okx", "HOT", 0.0),
        leg("binance", "HOT", 0.01, received_at=NOW - 301),  # stale: would be the short
        leg("bybit", "MILD", 0.0002),
        leg("hyperliquid", "MILD", -0.0001),
        leg("okx", "MILD", 0.004, turnover_24h=300_000.0),  # thin: would be the short
    ]
    params = ScanParams(min_turnover_24h=MIN_TURNOVER, max_quote_age_s=MAX_AGE_S)
    found = scan(quotes, params, NOW)
    assert [pair_of(o) for o in found] == [
        ("HOT", "okx", "bybit", "HOT-okx", "HOT-bybit"),
        ("MILD", "hyperliquid", "bybit", "MILD-hyperliquid", "MILD-bybit"),
    ]
    for o in found:
        assert best_carry(o.asset, [x for x in quotes if x.asset == o.asset], params, NOW).best == o
    hot = best_carry("HOT", quotes[:3], params, NOW)
    assert [(x.quote.venue, x.reason) for x in hot.left_out] == [("binance", "data 5m old")]
    mild = best_carry("MILD", quotes[3:], params, NOW)
    assert [(x.quote.venue, x.reason) for x in mild.left_out] == [
        ("okx", "24h turnover $300K under the $500K minimum")
    ]
    with pytest.raises(ValueError, match="a HOT quote among the legs of MILD"):
        best_carry("MILD", quotes, params, NOW)


# --- end to end: the real bot -----------------------------------------------------------


def pre_rows(text: str) -> list[list[str]]:
    block = re.search(r"<pre>(.*?)</pre>", text, re.S)
    assert block, text
    return [line.split() for line in block.group(1).splitlines()]


async def test_funding_and_scan_name_the_same_btc_pair_and_say_why_binance_is_left_out(venues):
    # desk_market(): binance BTC pays 1% per 8h, far above the rest, on $1K a day.
    async with running_bot(venues) as bot:
        funding = await bot.ask("/funding BTC")
        scanned = await bot.ask("/scan")
    assert "Best: long <b>hl</b>, short <b>bybit</b>" in funding.text
    assert re.search(r"\d+\. BTC  long hl / short bybit\n", scanned.text)
    assert (
        "† binance BTCUSDT left out of the best pair: 24h turnover $1.00K under the $500K minimum"
        in funding.text
    )
    assert [r[0] for r in pre_rows(funding.text)[1:]] == ["binance†", "bybit", "hl"]


async def test_signal_and_funding_name_the_same_pair_past_a_stale_and_a_thin_leg():
    market = desk_market()
    market.venues["binance"][0].turnover = 300_000.0  # APE on binance: too thin
    async with (
        FakeVenues(market) as fake,
        running_bot(fake, ARB_MAX_QUOTE_AGE_S="2", ARB_SCAN_INTERVAL_S="3600") as bot,
    ):
        # Bybit pays the most on APE but stops answering: its last quotes go stale.
        fake.fail("bybit", BYBIT_TICKERS, Fault.http(500))
        await asyncio.sleep(2.2)
        funding = await bot.ask("/funding APE")
        signal = await bot.ask("/signal APE")
        scanned = await bot.ask("/scan")
    assert "Best: long <b>hl</b>, short <b>okx</b>" in funding.text
    assert "long hl 0.0013%/1h · short okx 0.0520%/4h" in signal.text
    assert re.search(r"\d+\. APE  long hl / short okx\n", scanned.text)
    assert re.search(r"† bybit APEUSDT left out of the best pair: data \ds old\n", funding.text)
    assert [r[0] for r in pre_rows(funding.text)[1:]] == ["bybit†", "binance†", "okx", "hl"]
    assert (
        "† binance APEUSDT left out of the best pair: 24h turnover $300K under the $500K minimum"
        in funding.text
    )
