"""A fake of Bybit's public v5 REST market data, served by `FakeVenues` under `/bybit`.

`install(fake)` adds the tickers, instruments-info, orderbook and funding-history endpoints.
Without a market they serve the recorded fixtures; with one, `fake.market.venues["bybit"]` is
rendered into fixture rows with their numbers replaced (dated futures kept, for a client to
skip). Funding history runs newest first: endTime alone means the `limit` records up to it.
Books are `FakePerp.levels` per and in units of the symbol's base (1000PEPE), as are the
instruments' qtyStep and minOrderQty.
"""

from __future__ import annotations

import copy
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

BYBIT_TICKERS = "/v5/market/tickers"
BYBIT_INSTRUMENTS = "/v5/market/instruments-info"
BYBIT_FUNDING_HISTORY = "/v5/market/funding/history"
BYBIT_ORDER_BOOK = "/v5/market/orderbook"
# Symbols with a recorded book (built from the docs' example): v5_market_orderbook_<symbol>.
BOOK_FIXTURES = ("BTCUSDT", "1000PEPEUSDT")

HISTORY = HistoryFacts(
    path=BYBIT_FUNDING_HISTORY,
    page=200,
    forward=False,
    recorded=("BTCUSDT", "bybit/v5_market_funding_history.json"),
    unknown_symbol=("code", "10001"),
)


def bybit_symbol(p: FakePerp) -> str:
    if p.bybit_symbol:
        return p.bybit_symbol
    prefix = "1000" if p.multiplier == 1000 else ""
    return f"{p.asset}PERP" if p.settle == "USDC" else f"{prefix}{p.asset}USDT"


symbol = bybit_symbol


def price_tick(price: float) -> str:
    """A tick that writes `price` (in the symbol's units) to 6 significant digits, as the
    venue's are (ETHUSDT at 2000: 0.01; 1000PEPEUSDT at 0.01: 0.0000001)."""
    return scaled(10.0 ** (math.floor(math.log10(price)) - 5))


def bybit_error(code: int, message: str) -> Any:
    return {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": 0}


def history_reply(rows: list[tuple[Any, Any]]) -> bytes:
    """A settled-funding reply holding (time in ms, rate) rows as written, junk included."""
    rows = [{"symbol": "X", "fundingRateTimestamp": t, "fundingRate": r} for t, r in rows]
    return json.dumps({"retCode": 0, "retMsg": "OK", "result": {"list": rows}}).encode()


def install(fake: FakeVenues) -> None:
    """Serve Bybit's tickers, instruments-info and funding history from `fake`."""

    def ticker_row(row: dict, p: FakePerp) -> dict:
        assert fake.market is not None
        mark = dec(p.price * p.multiplier)
        return dict(
            row,
            symbol=bybit_symbol(p),
            fundingRate=dec(p.rate),
            fundingIntervalHour=dec(p.interval_h).removesuffix(".0"),
            nextFundingTime=str(fake.market.next_settlement(p.interval_h)),
            markPrice=mark,
            lastPrice=mark,
            indexPrice=mark,
            turnover24h=dec(p.turnover),
            openInterest=dec(p.open_interest / p.multiplier),
            openInterestValue=dec(p.open_interest * p.price),
        )

    async def tickers(request: web.Request) -> Any:
        if request.query.get("category") != "linear":
            return bybit_error(10001, "params error: category")
        doc = fixture("bybit/v5_market_tickers_linear.json")
        doc["result"]["list"] = fake.rendered(
            "bybit",
            doc["result"]["list"],
            ticker_row,
            keep=lambda r: "-" in r["symbol"],  # dated futures
        )
        if fake.market is not None:
            doc["time"] = fake.market.now()
        return doc

    def instrument_row(row: dict, p: FakePerp) -> dict:
        lots = dict(
            row["lotSizeFilter"],
            qtyStep=scaled(p.lot, per=p.multiplier),
            minOrderQty=scaled(p.min_qty, per=p.multiplier),
        )
        return {
            **copy.deepcopy(row),
            "priceFilter": dict(row["priceFilter"], tickSize=price_tick(p.price * p.multiplier)),
            "symbol": bybit_symbol(p),
            "baseCoin": f"{'1000' if p.multiplier == 1000 else ''}{p.asset}",
            "quoteCoin": p.settle,
            "settleCoin": p.settle,
            "contractType": "LinearPerpetual",
            "fundingInterval": int(p.interval_h * 60),
            "lotSizeFilter": lots,
        }

    async def instruments(request: web.Request) -> Any:
        doc = fixture("bybit/v5_market_instruments_info_linear.json")
        doc["result"]["nextPageCursor"] = ""
        if request.query.get("category") != "linear":
            doc["result"]["list"] = []
            doc["result"]["category"] = request.query.get("category", "")
            return doc
        doc["result"]["list"] = fake.rendered("bybit", doc["result"]["list"], instrument_row)
        return doc

    async def funding_history(request: web.Request) -> Any:
        """Newest first; endTime alone means the `limit` records up to it, and startTime
        without endTime is an error."""
        q = request.query
        if q.get("category") not in ("linear", "inverse"):
            return bybit_error(10001, "params error: category")
        if "startTime" in q and "endTime" not in q:
            return bybit_error(10001, "params error: endTime is required with startTime")
        limit = int(q.get("limit", "200"))
        if not 1 <= limit <= 200:
            return bybit_error(10001, "params error: limit")
        doc = fixture("bybit/v5_market_funding_history.json")
        rows = fake.settled_rows(
            "bybit",
            q.get("symbol", ""),
            doc["result"]["list"],
            ("symbol", "fundingRateTimestamp"),
            lambda row, p, t, rate: dict(
                row, symbol=bybit_symbol(p), fundingRate=dec(rate), fundingRateTimestamp=str(t)
            ),
        )
        if rows is None:
            return bybit_error(10001, "params error: symbol invalid")
        picked = window(rows, query_ms(q, "startTime"), query_ms(q, "endTime"))
        doc["result"]["list"] = picked[::-1][:limit]
        if fake.market is not None:
            doc["time"] = fake.market.now()
        return doc

    async def order_book(request: web.Request) -> Any:
        """A symbol's book, `limit` levels a side (1-500, 25 by default, as for linear)."""
        q = request.query
        if q.get("category") != "linear":
            return bybit_error(10001, "params error: category")
        limit = int(q.get("limit", "25"))
        if not 1 <= limit <= 500:
            return bybit_error(10001, "params error: limit")
        symbol = q.get("symbol", "")
        if fake.market is None:
            if symbol not in BOOK_FIXTURES:
                return bybit_error(10001, "params error: symbol invalid")
            return fixture(f"bybit/v5_market_orderbook_{symbol}.json")
        perp = fake.perp("bybit", symbol)
        if perp is None:
            return bybit_error(10001, "params error: symbol invalid")
        doc = fixture("bybit/v5_market_orderbook_BTCUSDT.json")
        bids, asks = perp.wire_levels("bybit", perp.multiplier, perp.multiplier)
        doc["result"].update(s=symbol, b=bids[:limit], a=asks[:limit], ts=fake.market.now())
        doc["time"] = fake.market.now()
        return doc

    fake.route("bybit", "GET", BYBIT_TICKERS, tickers)
    fake.route("bybit", "GET", BYBIT_ORDER_BOOK, order_book)
    fake.route("bybit", "GET", BYBIT_INSTRUMENTS, instruments)
    fake.route("bybit", "GET", BYBIT_FUNDING_HISTORY, funding_history)
