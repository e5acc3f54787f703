"""A fake of Binance's public USDⓈ-M REST market data, served by `FakeVenues` under
`/binance`.

`install(fake)` adds premiumIndex, exchangeInfo, fundingInfo, the 24 h ticker, depth and the
fundingRate history. Without a market they serve the recorded fixtures; with one,
`fake.market.venues["binance"]` is rendered into fixture rows with their numbers replaced
(delivery contracts kept, for a client to skip). fundingInfo lists only the symbols whose
interval is not the default 8 h, as Binance does. Books are `FakePerp.levels` per and in
units of the symbol's base (1000PEPE), as are exchangeInfo's lot filters.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from tests.fakes.venues import (
    FakePerp,
    FakeVenues,
    HistoryFacts,
    dec,
    fixture,
    query_ms,
    scaled,
    window,
)

BINANCE_PREMIUM = "/fapi/v1/premiumIndex"
BINANCE_EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
BINANCE_FUNDING_INFO = "/fapi/v1/fundingInfo"
BINANCE_TICKER = "/fapi/v1/ticker/24hr"
BINANCE_FUNDING_RATE = "/fapi/v1/fundingRate"
BINANCE_DEPTH = "/fapi/v1/depth"
# Symbols with a recorded book (built from the docs' example): fapi_v1_depth_<symbol>.
BOOK_FIXTURES = ("BTCUSDT", "1000PEPEUSDT")
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
LOT_FILTERS = ("LOT_SIZE", "MARKET_LOT_SIZE")

HISTORY = HistoryFacts(
    path=BINANCE_FUNDING_RATE,
    page=1000,
    forward=True,
    recorded=("BTCUSDT", "binance/fapi_v1_fundingRate.json"),
    unknown_symbol=("status", 400),
)


def binance_symbol(p: FakePerp) -> str:
    return f"{'1000' if p.multiplier == 1000 else ''}{p.asset}{p.settle}"


symbol = binance_symbol


def history_reply(rows: list[tuple[Any, Any]]) -> bytes:
    """A settled-funding reply holding (time in ms, rate) rows as written, junk included."""
    rows = [{"symbol": "X", "fundingTime": t, "fundingRate": r} for t, r in rows]
    return json.dumps(rows).encode()


def invalid_symbol() -> web.Response:
    return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)


def lot_filters(filters: list[dict], p: FakePerp) -> list[dict]:
    """The symbol's filters with both lot filters in units of its base (1000PEPE), and a
    tick that writes its price (per those units) to 6 significant digits."""
    step, least = scaled(p.lot, per=p.multiplier), scaled(p.min_qty, per=p.multiplier)
    lots = {"stepSize": step, "minQty": least}
    tick = scaled(10.0 ** (math.floor(math.log10(p.price * p.multiplier)) - 5))
    return [
        dict(f, **lots) if f["filterType"] in LOT_FILTERS
        else dict(f, tickSize=tick) if f["filterType"] == "PRICE_FILTER"
        else f
        for f in filters
    ]  # fmt: skip


def install(fake: FakeVenues) -> None:
    """Serve Binance's public market data from `fake`."""

    def premium_row(row: dict, p: FakePerp) -> dict:
        assert fake.market is not None
        mark = dec(p.price * p.multiplier)
        return dict(
            row,
            symbol=binance_symbol(p),
            markPrice=mark,
            indexPrice=mark,
            estimatedSettlePrice=mark,
            lastFundingRate=dec(p.rate),
            nextFundingTime=fake.market.next_settlement(p.interval_h),
            time=fake.market.now(),
        )

    async def premium(request: web.Request) -> Any:
        rows = fake.rendered(
            "binance",
            fixture("binance/fapi_v1_premiumIndex.json"),
            premium_row,
            keep=lambda r: "_" in r["symbol"],  # delivery contracts
        )
        symbol = request.query.get("symbol")
        if symbol is None:
            return rows
        match = [r for r in rows if r["symbol"] == symbol]
        if not match:
            return invalid_symbol()
        return match[0]

    async def exchange_info(request: web.Request) -> Any:
        doc = fixture("binance/fapi_v1_exchangeInfo.json")
        doc["symbols"] = fake.rendered(
            "binance",
            doc["symbols"],
            lambda row, p: dict(
                row,
                symbol=binance_symbol(p),
                pair=binance_symbol(p),
                baseAsset=f"{'1000' if p.multiplier == 1000 else ''}{p.asset}",
                quoteAsset=p.settle,
                marginAsset=p.settle,
                filters=lot_filters(row["filters"], p),
            ),
            keep=lambda s: s["contractType"] != "PERPETUAL" or s["status"] != "TRADING",
        )
        if fake.market is not None:
            doc["serverTime"] = fake.market.now()
        return doc

    async def funding_info(request: web.Request) -> Any:
        # Binance lists only symbols whose settings differ from the default 8 h.
        return fake.rendered(
            "binance",
            fixture("binance/fapi_v1_fundingInfo.json"),
            lambda row, p: (
                dict(row, symbol=binance_symbol(p), fundingIntervalHours=int(p.interval_h))
                if p.interval_h != 8
                else None
            ),
        )

    async def ticker(request: web.Request) -> Any:
        return fake.rendered(
            "binance",
            fixture("binance/fapi_v1_ticker_24hr.json"),
            lambda row, p: dict(
                row,
                symbol=binance_symbol(p),
                lastPrice=dec(p.price * p.multiplier),
                quoteVolume=dec(p.turnover),
            ),
        )

    async def funding_rate(request: web.Request) -> Any:
        """Ascending; a range wider than `limit` gives its first `limit` rows, no range the
        last ones. (Binance also answers without `symbol`; clients always send one.)"""
        q = request.query
        limit = min(int(q.get("limit", "100")), 1000)
        rows = fake.settled_rows(
            "binance",
            q.get("symbol", ""),
            fixture("binance/fapi_v1_fundingRate.json"),
            ("symbol", "fundingTime"),
            lambda row, p, t, rate: dict(
                row,
                symbol=binance_symbol(p),
                fundingRate=dec(rate),
                fundingTime=t,
                markPrice=dec(p.price * p.multiplier),
            ),
        )
        if rows is None:
            return invalid_symbol()
        start = query_ms(q, "startTime")
        picked = window(rows, start, query_ms(q, "endTime"))
        return picked[:limit] if start is not None else picked[-limit:]

    async def depth(request: web.Request) -> Any:
        """A symbol's book, `limit` levels a side (one of DEPTH_LIMITS, 500 by default)."""
        q = request.query
        limit = int(q.get("limit", "500"))
        if limit not in DEPTH_LIMITS:
            return web.json_response({"code": -1130, "msg": "Invalid limit."}, status=400)
        symbol = q.get("symbol", "")
        if fake.market is None:
            if symbol not in BOOK_FIXTURES:
                return invalid_symbol()
            return fixture(f"binance/fapi_v1_depth_{symbol}.json")
        perp = fake.perp("binance", symbol)
        if perp is None:
            return invalid_symbol()
        bids, asks = perp.wire_levels("binance", perp.multiplier, perp.multiplier)
        now = fake.market.now()
        doc = fixture("binance/fapi_v1_depth_BTCUSDT.json")
        return dict(doc, E=now, T=now, bids=bids[:limit], asks=asks[:limit])

    fake.route("binance", "GET", BINANCE_PREMIUM, premium)
    fake.route("binance", "GET", BINANCE_DEPTH, depth)
    fake.route("binance", "GET", BINANCE_EXCHANGE_INFO, exchange_info)
    fake.route("binance", "GET", BINANCE_FUNDING_INFO, funding_info)
    fake.route("binance", "GET", BINANCE_TICKER, ticker)
    fake.route("binance", "GET", BINANCE_FUNDING_RATE, funding_rate)
